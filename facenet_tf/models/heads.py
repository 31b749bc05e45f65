"""The embedding head every model family ends with."""

from __future__ import annotations

import keras


def embedding_head(x, embedding_dim: int, *, dropout: float = 0.0, name: str = "embedding"):
    """Global features -> Dense(D) -> L2 normalisation (unit vectors).

    Args:
        x: float [N, C] pooled features.
        embedding_dim: D.
        dropout: dropout rate before the projection (training only).
        name: prefix of the layer names; the projection is ``{name}_dense`` and the
            output layer ``{name}_l2`` so converters and exporters can find them.

    Returns:
        float [N, D] unit vectors.
    """
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = keras.layers.Dense(embedding_dim, name=f"{name}_dense")(x)
    return keras.layers.UnitNormalization(axis=-1, name=f"{name}_l2", dtype="float32")(x)
