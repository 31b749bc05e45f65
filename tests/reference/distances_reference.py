"""Brute-force numpy reference of the distances (explicit loops, float64).

Straight from the definitions, one pair and one coordinate at a time (no Gram expansion,
no vectorisation), so that it shares nothing with ``facenet_tf.distances`` or
``facenet_tf.losses.distances`` except the table of names and the normalisation floor.
"""

from __future__ import annotations

import math

import numpy as np

from facenet_tf.distances import L2_NORMALIZE_EPSILON, canonical_distance


def _squared_norm(u: np.ndarray) -> float:
    return sum(float(c) * float(c) for c in u)


def unit(u: np.ndarray) -> np.ndarray:
    """``u / sqrt(max(|u|^2, L2_NORMALIZE_EPSILON))`` as float64."""
    u = np.asarray(u, dtype=np.float64)
    return u / math.sqrt(max(_squared_norm(u), L2_NORMALIZE_EPSILON))


def distance(u: np.ndarray, v: np.ndarray, name: str, normalize: bool = False) -> float:
    """Distance between two vectors [D].

    Args:
        u, v: float [D].
        name: any name accepted by ``canonical_distance``.
        normalize: L2-normalise ``u`` and ``v`` first ("cosine" always does).

    Returns:
        The float64 distance (cosine clamped at 0, as the implementations do).
    """
    name = canonical_distance(name)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if normalize or name == "cosine":
        u, v = unit(u), unit(v)
    if name == "cosine":
        return max(1.0 - sum(float(x) * float(y) for x, y in zip(u, v, strict=True)), 0.0)
    squared = sum((float(x) - float(y)) ** 2 for x, y in zip(u, v, strict=True))
    return math.sqrt(squared) if name == "euclidean" else squared


def pairwise(a: np.ndarray, b: np.ndarray, name: str, normalize: bool = False) -> np.ndarray:
    """float64 [N, M]: ``distance(a[i], b[j])`` for every i, j."""
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = distance(a[i], b[j], name, normalize)
    return out
