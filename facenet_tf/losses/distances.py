"""Pairwise distance matrices for metric-learning losses.

The three distances follow the conventions of the TF Addons metric-learning losses
(``pairwise_distance`` and ``angular_distance``) so that our triplet losses reproduce
their values:

* ``squared_l2``: ``|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>``, clamped at 0, diagonal exactly 0.
* ``l2``: the square root of the above. Zero entries stay exactly 0 and get a zero
  gradient (the square root of 0 has an infinite derivative; we never evaluate it).
* ``angular``: ``1 - cos(x_i, x_j)`` on L2-normalised rows, clamped at 0. The diagonal
  is set to exactly 0 (TF Addons leaves it at rounding level, about 1e-7).
"""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.errors import InvalidInputError

DISTANCES: tuple[str, ...] = ("squared_l2", "l2", "angular")

# TF Addons spellings (``distance_metric=``) beside ours. Old TF Addons releases used
# "L_2" for the *squared* distance; it is deliberately not accepted to avoid that trap.
_ALIASES: dict[str, str] = {
    "squared_l2": "squared_l2",
    "squared-l2": "squared_l2",
    "sq_l2": "squared_l2",
    "l2": "l2",
    "euclidean": "l2",
    "angular": "angular",
    "cosine": "angular",
}

# tf.math.l2_normalize's floor on the squared norm; kept so zero rows give the same
# (all-ones) angular distances as TF Addons.
_L2_NORMALIZE_EPSILON = 1e-12


def canonical_distance(distance: str) -> str:
    """Maps a distance name or TF Addons alias to one of `DISTANCES`.

    Args:
        distance: ``"squared_l2"``, ``"l2"``, ``"angular"`` or a TF Addons spelling
            (``"squared-L2"``, ``"L2"``, ``"angular"``); case-insensitive.

    Returns:
        The canonical name.

    Raises:
        InvalidInputError: the name is unknown.
    """
    if not isinstance(distance, str) or distance.lower() not in _ALIASES:
        raise InvalidInputError(
            f"distance must be one of {DISTANCES} (or 'squared-L2', 'L2'); got {distance!r}"
        )
    return _ALIASES[distance.lower()]


def _zero_diagonal(matrix: tf.Tensor) -> tf.Tensor:
    return tf.linalg.set_diag(matrix, tf.zeros_like(matrix[:, 0]))


def squared_l2_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise squared Euclidean distances.

    Args:
        embeddings: float [B, D].

    Returns:
        [B, B] of the dtype of `embeddings`, >= 0, zero diagonal.
    """
    squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1)
    gram = tf.matmul(embeddings, embeddings, transpose_b=True)
    # Expanding |a - b|^2 keeps memory at O(B^2); it can go slightly negative by rounding.
    distances = squared_norms[:, None] + squared_norms[None, :] - 2.0 * gram
    return _zero_diagonal(tf.maximum(distances, 0.0))


def l2_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise Euclidean distances with finite gradients at zero distance.

    Args:
        embeddings: float [B, D].

    Returns:
        [B, B] of the dtype of `embeddings`, >= 0, zero diagonal.
    """
    squared = squared_l2_distances(embeddings)
    is_zero = squared <= 0.0
    # Double `where`: the sqrt never sees 0, so its gradient is finite everywhere, and the
    # outer `where` routes a zero gradient to zero distances.
    safe = tf.where(is_zero, tf.ones_like(squared), squared)
    return tf.where(is_zero, tf.zeros_like(squared), tf.sqrt(safe))


def angular_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Pairwise ``1 - cosine similarity``.

    Args:
        embeddings: float [B, D]; need not be normalised (rows are normalised here).

    Returns:
        [B, B] of the dtype of `embeddings`, in [0, 2], zero diagonal.
    """
    squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1, keepdims=True)
    unit = embeddings * tf.math.rsqrt(tf.maximum(squared_norms, _L2_NORMALIZE_EPSILON))
    distances = 1.0 - tf.matmul(unit, unit, transpose_b=True)
    return _zero_diagonal(tf.maximum(distances, 0.0))


_FUNCTIONS = {
    "squared_l2": squared_l2_distances,
    "l2": l2_distances,
    "angular": angular_distances,
}


def pairwise_distances(embeddings: tf.Tensor, distance: str = "squared_l2") -> tf.Tensor:
    """Pairwise distance matrix.

    Args:
        embeddings: float [B, D].
        distance: a name accepted by `canonical_distance`.

    Returns:
        [B, B] of the dtype of `embeddings`.
    """
    return _FUNCTIONS[canonical_distance(distance)](embeddings)
