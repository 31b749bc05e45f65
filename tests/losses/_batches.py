"""Random test batches and float32 tolerances shared by the loss tests."""

from __future__ import annotations

import numpy as np

from facenet_tf.distances import canonical_distance


def labels_with_counts(rng: np.random.Generator, counts: list[int]) -> np.ndarray:
    """Shuffled int32 labels with `counts[k]` copies of a random id per identity."""
    ids = rng.choice(10_000, size=len(counts), replace=False)
    labels = np.repeat(ids, counts).astype(np.int32)
    return rng.permutation(labels)


def random_batch(
    seed: int,
    batch_size: int,
    dim: int,
    num_ids: int,
    *,
    unit: bool = True,
    every_label_twice: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels int32 [B], embeddings float32 [B, D]); unit rows unless `unit` is False.

    With `every_label_twice`, each of the `num_ids` identities occurs at least twice
    (batch_size must be >= 2 * num_ids).
    """
    rng = np.random.default_rng(seed)
    if every_label_twice:
        extra = rng.multinomial(batch_size - 2 * num_ids, np.ones(num_ids) / num_ids)
        labels = labels_with_counts(rng, list(2 + extra))
    else:
        labels = rng.integers(0, num_ids, batch_size).astype(np.int32)
    x = rng.normal(size=(batch_size, dim))
    if unit:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return labels, x.astype(np.float32)


EPS32 = float(np.finfo(np.float32).eps)


def float32_atol(x: np.ndarray, distance: str = "squared_l2") -> float:
    """Absolute tolerance of a float32 loss (or distance statistic) against its float64
    reference on the batch ``x`` [B, D], set from the arithmetic rather than one CPU's.

    A squared distance is the Gram expansion ``|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>`` of
    D-term float32 sums, whose rounding error grows like eps sqrt(D) (|x_i|^2 + |x_j|^2)
    in whatever order a kernel sums (oneDNN on or off); 4x that bounds it with headroom.
    An L2 distance d carries that error divided by 2 d (at most its square root), a
    cosine distance half that of unit rows, and equal rows none (they give exactly 0). A
    hinge ``d_ap - d_an + margin`` holds two distances: twice the largest bound.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return 0.0
    name = canonical_distance(distance)
    if name == "cosine":
        x = x / np.sqrt(np.maximum(np.sum(x * x, axis=1, keepdims=True), 1e-12))
    squared = np.sum(x * x, axis=1)
    bound = 4 * EPS32 * np.sqrt(x.shape[1]) * (squared[:, None] + squared[None, :])
    equal = (x[:, None, :] == x[None, :, :]).all(-1)
    if name == "euclidean":
        d = np.sqrt(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))
        bound = np.minimum(bound / np.maximum(2 * d, 1e-30), np.sqrt(bound))
    elif name == "cosine":
        bound = bound / 2
    return 2 * float(np.max(np.where(equal, 0.0, bound), initial=0.0))
