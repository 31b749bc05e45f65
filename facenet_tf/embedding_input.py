"""The one rule that tells embeddings from images in what a user passes to a task.

A float array of rank 1 or 2 whose last axis is the model's D is embeddings when every
row has unit length (``UNIT_NORM_TOLERANCE``); with D columns but rows of another length
it is ambiguous (a D-pixel-wide image, or vectors that were never normalised) and
refused. Anything else (paths, integer arrays, other shapes, lists) is images for
``facenet_tf.embed``. NumPy only, so a caller holding vectors never loads a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError

# Rows of an array taken as embeddings must have unit length within this (float32
# arithmetic of a D = 128 unit vector is good to ~1e-6; stored and reloaded vectors,
# e.g. CSV with 6 digits, to ~1e-5).
UNIT_NORM_TOLERANCE = 1e-3


def embeddings_or_none(x: Any, dim: int, model_name: str, name: str) -> np.ndarray | None:
    """float32 [N, D] when ``x`` is embeddings by the rule above, None when it is images.

    Args:
        x: what the user passed.
        dim: the model's embedding size D.
        model_name: for messages.
        name: the argument's name, for messages.

    Raises:
        InvalidInputError: a 1-D vector of another size; D-wide rows with NaN, infinite
            values or lengths other than 1.
    """
    if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.ndim in (1, 2)):
        return None
    vectors = np.atleast_2d(x).astype(np.float32)
    if x.ndim == 1 and vectors.shape[-1] != dim:
        raise InvalidInputError(
            f"{name}: a vector of size {vectors.shape[-1]}, model {model_name!r} makes "
            f"{dim}; pass an image as [H, W, C] or inside a list"
        )
    if vectors.shape[-1] != dim:
        return None
    if not np.isfinite(vectors).all():
        raise InvalidInputError(
            f"{name}: embeddings contain NaN or infinite values (NaN rows mark "
            "photos without a face)"
        )
    norms = np.linalg.norm(vectors, axis=1)
    off = np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
    if off.size:
        raise InvalidInputError(
            f"{name}: float array {x.shape} has the model's width {dim} but "
            f"{off.size} row(s) are not unit vectors (e.g. row {off[0]}: norm "
            f"{norms[off[0]]:.4g}), so it is neither clearly embeddings nor clearly an "
            "image: L2-normalise vectors (facenet_tf.distances.l2_normalize), or pass "
            "an image as [H, W, C], as uint8, or inside a list"
        )
    return vectors
