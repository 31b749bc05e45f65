"""Identity-balanced P x K batch sampling as a pure function of (seed, step).

A batch holds P distinct identities and K images of each (the paper: about 40 faces per
identity, about 1,800 per batch, i.e. P = 45, K = 40). Batch ``step`` is computed from
the seed and the step number alone, in graph ops with static shapes:

* resuming at step s regenerates exactly the batches s, s + 1, ... of an uninterrupted
  run (nothing to checkpoint, nothing repeated, nothing skipped);
* every input pipeline of a distributed run computes the same global batch and keeps its
  replicas' slices of identities, so R replicas together see exactly the single-device
  batch.

Identities with fewer than K images (n < K) contribute all n images, then repeat them
in the same random order until K are filled; augmentation makes the repeats different
views. Identities with fewer than ``min_images`` images are never sampled (with one
photo there is no real positive pair to learn from).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from facenet_tf.data.ops import fold_seed
from facenet_tf.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class IdentityTable:
    """The identities a sampler draws from.

    Attributes:
        labels: int32 [M], the label of each eligible identity.
        offsets: int32 [M], where each identity's images start in ``members``.
        counts: int32 [M], images per identity (all >= the ``min_images`` it was built with).
        members: int32 [sum(counts)], image indices grouped by identity, ascending within one.
    """

    labels: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    members: np.ndarray

    @property
    def num_identities(self) -> int:
        return int(self.labels.shape[0])

    @property
    def max_count(self) -> int:
        return int(self.counts.max()) if self.counts.size else 0


def build_identity_table(labels: np.ndarray, min_images: int = 2) -> IdentityTable:
    """Groups image indices by label, keeping identities with at least ``min_images``.

    Args:
        labels: int [N], the label of image i (any non-negative ints).
        min_images: smallest number of images an identity needs to be sampled.

    Returns:
        The table (identities in ascending label order).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise InvalidInputError(f"labels: expected a non-empty [N] array, got shape {labels.shape}")
    if min_images < 1:
        raise InvalidInputError(f"min_images: must be >= 1, got {min_images}")
    order = np.argsort(labels, kind="stable")
    uniq, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    keep = counts >= min_images
    members = [order[s : s + c] for s, c in zip(starts[keep], counts[keep], strict=True)]
    kept_counts = counts[keep].astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(kept_counts)[:-1]]).astype(np.int32)
    return IdentityTable(
        labels=uniq[keep].astype(np.int32),
        offsets=offsets,
        counts=kept_counts,
        members=(np.concatenate(members) if members else np.zeros([0])).astype(np.int32),
    )


def sample_pk(
    table: IdentityTable,
    step: tf.Tensor,
    seed: tf.Tensor,
    num_identities: int,
    images_per_identity: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Draws the P x K batch number ``step``.

    P identities are drawn uniformly without replacement; within an identity with n
    images, K images are drawn without replacement when n >= K, else all n images are
    taken in random order and cycled.

    Args:
        table: the identities to draw from (needs at least P of them).
        step: int64 scalar, the batch number.
        seed: int64 [2], the pipeline's root seed.
        num_identities: P.
        images_per_identity: K.

    Returns:
        ``(image_index, label)``: int32 [P, K] indices into the image list, and int32 [P]
        the label of each row.
    """
    p, k = int(num_identities), int(images_per_identity)
    if p < 1 or k < 1:
        raise InvalidInputError(f"P x K: both must be >= 1, got {p} x {k}")
    if table.num_identities < p:
        raise InvalidInputError(
            f"identities_per_batch={p} but only {table.num_identities} identities have "
            "enough images; lower P or min_images_per_identity"
        )
    step_seed = fold_seed(seed, step)
    # P distinct identities: the top-P of M uniform keys is a uniform P-subset.
    keys = tf.random.stateless_uniform([table.num_identities], fold_seed(step_seed, 0))
    chosen = tf.math.top_k(keys, p, sorted=True).indices
    counts = tf.gather(tf.constant(table.counts), chosen)  # [P]
    offsets = tf.gather(tf.constant(table.offsets), chosen)
    # A random permutation of each identity's images: sort uniform keys, padding last.
    width = table.max_count
    take = min(k, width)
    noise = tf.random.stateless_uniform([p, width], fold_seed(step_seed, 1))
    valid = tf.range(width)[None, :] < counts[:, None]
    perm = tf.math.top_k(tf.where(valid, noise, -1.0), take, sorted=True).indices  # [P, take]
    # Column j takes perm[j mod n]: without replacement for n >= K, cycling for n < K.
    cols = tf.math.floormod(tf.range(k)[None, :], counts[:, None])
    within = tf.gather(perm, cols, batch_dims=1)  # [P, K]
    image_index = tf.gather(tf.constant(table.members), offsets[:, None] + within)
    return image_index, tf.gather(tf.constant(table.labels), chosen)
