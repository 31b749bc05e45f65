"""Synthetic face-like data for the gallery tests."""

from __future__ import annotations

import numpy as np


def clustered(n: int, dim: int = 128, ids: int = 100, noise: float = 0.35, seed: int = 0):
    """Unit vectors in ``ids`` clusters, like embeddings of ``ids`` people.

    Returns:
        (float32 [n, dim] unit vectors, int [n] cluster of each).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = rng.integers(0, ids, size=n)
    x = centres[who] + noise * rng.normal(size=(n, dim)) / np.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), who


def knn_reference(queries: np.ndarray, gallery: np.ndarray, k: int):
    """Brute-force numpy k-NN in float64: (indices [Q, k], squared-L2 distances [Q, k])."""
    q = queries.astype(np.float64)
    g = gallery.astype(np.float64)
    d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


# The batch size of the subprocess writer in test_storage.py.
BATCH = 4000


def _batch(b: int) -> np.ndarray:
    """Batch b of that writer: reproducible unit vectors."""
    return clustered(BATCH, seed=100 + b)[0]
