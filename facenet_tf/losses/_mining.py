"""Input checks and O(B^2) mining primitives shared by the triplet losses.

Every primitive works on a [B, B] distance matrix, so memory stays O(B^2) however many
triplets a batch holds (B = 1,800 has 5.8e9 anchor-positive-negative combinations).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.losses.distances import pairwise_distances


class Batch(NamedTuple):
    """A validated batch: distances and label masks, all [B, B]."""

    distances: tf.Tensor  # float32 (float64 for float64 input)
    positive: tf.Tensor  # bool: same label, not the diagonal
    negative: tf.Tensor  # bool: different label


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float32 for float16/bfloat16/float32 inputs; float64 stays float64."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def prepare_batch(labels, embeddings, distance: str) -> Batch:
    """Validates inputs, upcasts embeddings and builds distances and masks.

    Args:
        labels: int32/int64 (or float/string) [B] or [B, 1] identity labels.
        embeddings: float [B, D].
        distance: a name accepted by `facenet_tf.distances.canonical_distance`.

    Returns:
        A `Batch`.

    Raises:
        InvalidInputTypeError: embeddings are not floating point.
        InvalidInputError: shapes are not [B] / [B, D] or their B differ.
    """
    embeddings = tf.convert_to_tensor(embeddings)
    if not embeddings.dtype.is_floating:
        raise InvalidInputTypeError(
            f"embeddings must be a float tensor [B, D]; got dtype {embeddings.dtype.name}"
        )
    if embeddings.shape.rank is not None and embeddings.shape.rank != 2:
        raise InvalidInputError(f"embeddings must have shape [B, D]; got {embeddings.shape}")
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank is not None:
        if labels.shape.rank == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]  # Keras hands y_true over as [B, 1] at times.
        elif labels.shape.rank != 1:
            raise InvalidInputError(f"labels must have shape [B] or [B, 1]; got {labels.shape}")
    else:
        labels = tf.reshape(labels, [-1])
    n_labels, n_embeddings = labels.shape[0], embeddings.shape[0]
    if n_labels is not None and n_embeddings is not None and n_labels != n_embeddings:
        raise InvalidInputError(
            f"labels has {n_labels} entries but embeddings has {n_embeddings} rows"
        )
    if n_labels is None or n_embeddings is None:
        check = tf.debugging.assert_equal(
            tf.size(labels),
            tf.shape(embeddings)[0],
            message="labels and embeddings must have the same batch size",
        )
        with tf.control_dependencies([check]):  # run the check before any mining op
            labels, embeddings = tf.identity(labels), tf.identity(embeddings)
    embeddings = tf.cast(embeddings, compute_dtype(embeddings.dtype))
    distances = pairwise_distances(embeddings, distance)
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.size(labels), dtype=tf.bool))
    return Batch(distances, tf.logical_and(same, not_self), tf.logical_not(same))


def masked_max(data: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Row-wise maximum over `mask`; rows with an empty mask get the row minimum.

    The fallback reproduces TF Addons' ``_masked_maximum``: for an empty row its
    arithmetic returns the minimum of the whole row (diagonal included).

    Args:
        data: float [B, B].
        mask: bool [B, B].

    Returns:
        float [B].
    """
    masked = tf.reduce_max(tf.where(mask, data, tf.constant(-float("inf"), data.dtype)), 1)
    return tf.where(tf.reduce_any(mask, axis=1), masked, tf.reduce_min(data, axis=1))


def masked_min(data: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Row-wise minimum over `mask`; rows with an empty mask get the row maximum.

    Mirror image of `masked_max` (TF Addons' ``_masked_minimum`` fallback).

    Args:
        data: float [B, B].
        mask: bool [B, B].

    Returns:
        float [B].
    """
    masked = tf.reduce_min(tf.where(mask, data, tf.constant(float("inf"), data.dtype)), 1)
    return tf.where(tf.reduce_any(mask, axis=1), masked, tf.reduce_max(data, axis=1))


class SortedNegatives(NamedTuple):
    """Per anchor, its negatives sorted by distance (non-negatives pushed to the end)."""

    order: tf.Tensor  # int32 [B, B]: column indices, nearest negative first
    values: tf.Tensor  # float [B, B]: sorted distances (no gradient), +inf past the end
    count: tf.Tensor  # int32 [B]: number of negatives of each anchor


def sort_negatives(batch: Batch) -> SortedNegatives:
    """Sorts each anchor's negative distances; O(B^2 log B) time, O(B^2) memory."""
    inf = tf.constant(float("inf"), batch.distances.dtype)
    # Sorting only selects indices; gradients go through a gather of `distances` instead.
    keys = tf.where(batch.negative, tf.stop_gradient(batch.distances), inf)
    order = tf.argsort(keys, axis=1)
    values = tf.gather(keys, order, batch_dims=1)
    count = tf.reduce_sum(tf.cast(batch.negative, tf.int32), axis=1)
    return SortedNegatives(order, values, count)


def semihard_negatives(batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
    """Semi-hard negative distance for every (anchor, positive) cell.

    For anchor a and candidate positive p the negative is the nearest one strictly
    farther from a than p; when there is none, the farthest negative of a; when a has
    no negative at all, the minimum of row a (TF Addons' fallback; 0 for the L2
    distances because of the zero diagonal).

    Args:
        batch: a `Batch`.

    Returns:
        d_an: float [B, B], row a, column p.
        fell_back: bool [B, B], True where no negative was farther than p.
    """
    b = tf.shape(batch.distances)[0]
    neg = sort_negatives(batch)
    # First sorted position whose distance is > d_ap (strictly: ties are not "farther").
    first = tf.searchsorted(neg.values, tf.stop_gradient(batch.distances), side="right")
    has_farther = first < neg.count[:, None]
    column = tf.gather(neg.order, tf.minimum(first, b - 1), batch_dims=1)
    nearest_farther = tf.gather(batch.distances, column, batch_dims=1)
    farthest = masked_max(batch.distances, batch.negative)
    d_an = tf.where(has_farther, nearest_farther, farthest[:, None])
    return d_an, tf.logical_not(has_farther)


def safe_divide(numerator: tf.Tensor, denominator: tf.Tensor) -> tf.Tensor:
    """numerator / denominator, and 0 where the denominator is 0 (empty sets)."""
    denominator = tf.cast(denominator, numerator.dtype)
    return tf.math.divide_no_nan(numerator, denominator)
