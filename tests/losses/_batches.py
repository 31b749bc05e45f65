"""Random test batches shared by the loss tests."""

from __future__ import annotations

import numpy as np


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
