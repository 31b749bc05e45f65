"""The previous sort-based triplet losses, kept as the peer of the current ones.

Each anchor's negatives are sorted once (an [B, B] ``argsort``, O(B^2 log B)) and mined
with binary searches; distances are differentiated by TensorFlow's autodiff and equal
rows found with a [B, B, 2] fingerprint comparison. The current losses mine with
[B, Kmax] positive tables instead (``facenet_tf.losses._mining``). Tests compare values
and gradients with these, and ``benchmarks/triplet_loss.py`` times them side by side.
Inputs are assumed valid: labels int [B], embeddings float [B, D].
"""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.distances import L2_NORMALIZE_EPSILON, canonical_distance
from facenet_tf.losses.distances import _FINGERPRINT_SEED


def _equal_rows(embeddings):
    x = embeddings if embeddings.dtype == tf.float64 else tf.cast(embeddings, tf.float32)
    words = tf.reshape(tf.bitcast(x, tf.int32), [tf.shape(x)[0], -1])
    halves = tf.concat(
        [
            tf.bitwise.bitwise_and(words, 0xFFFF),
            tf.bitwise.bitwise_and(tf.bitwise.right_shift(words, 16), 0xFFFF),
        ],
        axis=1,
    )
    weights = tf.random.stateless_uniform(
        [tf.shape(halves)[1], 2], seed=_FINGERPRINT_SEED, minval=1, maxval=1 << 15, dtype=tf.int64
    )
    prints = tf.reduce_sum(tf.cast(halves, tf.int64)[:, :, None] * weights[None], axis=1)
    return tf.reduce_all(tf.equal(prints[:, None, :], prints[None, :, :]), axis=-1)


def _squared_l2(x):
    squared_norms = tf.reduce_sum(tf.square(x), axis=1)
    distances = (
        squared_norms[:, None] + squared_norms[None, :] - 2.0 * tf.matmul(x, x, transpose_b=True)
    )
    return tf.where(_equal_rows(x), tf.zeros_like(distances), tf.maximum(distances, 0.0))


def _l2(x):
    squared = _squared_l2(x)
    is_zero = squared <= 0.0
    safe = tf.where(is_zero, tf.ones_like(squared), squared)
    return tf.where(is_zero, tf.zeros_like(squared), tf.sqrt(safe))


def _angular(x):
    squared_norms = tf.reduce_sum(tf.square(x), axis=1, keepdims=True)
    unit = x * tf.math.rsqrt(tf.maximum(squared_norms, L2_NORMALIZE_EPSILON))
    distances = tf.maximum(1.0 - tf.matmul(unit, unit, transpose_b=True), 0.0)
    full = squared_norms[:, 0] >= L2_NORMALIZE_EPSILON
    zero = _equal_rows(x) & full[:, None] & full[None, :]
    distances = tf.where(zero, tf.zeros_like(distances), distances)
    return tf.linalg.set_diag(distances, tf.zeros_like(distances[:, 0]))


_DISTANCES = {"squared_l2": _squared_l2, "euclidean": _l2, "cosine": _angular}


def _batch(labels, embeddings, distance):
    embeddings = tf.convert_to_tensor(embeddings)
    dtype = tf.float64 if embeddings.dtype == tf.float64 else tf.float32
    distances = _DISTANCES[canonical_distance(distance)](tf.cast(embeddings, dtype))
    labels = tf.reshape(tf.convert_to_tensor(labels), [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.size(labels), dtype=tf.bool))
    return distances, tf.logical_and(same, not_self), tf.logical_not(same)


def _masked_max(data, mask):
    masked = tf.reduce_max(tf.where(mask, data, tf.constant(-float("inf"), data.dtype)), 1)
    return tf.where(tf.reduce_any(mask, axis=1), masked, tf.reduce_min(data, axis=1))


def _masked_min(data, mask):
    masked = tf.reduce_min(tf.where(mask, data, tf.constant(float("inf"), data.dtype)), 1)
    return tf.where(tf.reduce_any(mask, axis=1), masked, tf.reduce_max(data, axis=1))


def _sort_negatives(distances, negative):
    keys = tf.where(negative, tf.stop_gradient(distances), float("inf"))
    order = tf.argsort(keys, axis=1)
    values = tf.gather(keys, order, batch_dims=1)
    count = tf.reduce_sum(tf.cast(negative, tf.int32), axis=1)
    return order, values, count


def semihard_loss(labels, embeddings, margin=0.2, distance="squared_l2"):
    """Semi-hard triplet loss (mean over anchor-positive pairs), as before."""
    d, positive, negative = _batch(labels, embeddings, distance)
    b = tf.shape(d)[0]
    order, values, count = _sort_negatives(d, negative)
    first = tf.searchsorted(values, tf.stop_gradient(d), side="right")
    has_farther = first < count[:, None]
    column = tf.gather(order, tf.minimum(first, b - 1), batch_dims=1)
    d_an = tf.where(
        has_farther, tf.gather(d, column, batch_dims=1), _masked_max(d, negative)[:, None]
    )
    per_pair = tf.where(positive, tf.nn.relu(d - d_an + tf.cast(margin, d.dtype)), 0.0)
    num_pairs = tf.reduce_sum(tf.cast(positive, d.dtype))
    return tf.math.divide_no_nan(tf.reduce_sum(per_pair), num_pairs)


def batch_hard_loss(labels, embeddings, margin=0.2, soft=False, distance="squared_l2"):
    """Batch-hard triplet loss (mean over anchors with a positive), as before."""
    d, positive, negative = _batch(labels, embeddings, distance)
    gap = _masked_max(d, positive) - _masked_min(d, negative)
    per_anchor = tf.nn.softplus(gap) if soft else tf.nn.relu(gap + tf.cast(margin, d.dtype))
    has_positive = tf.reduce_any(positive, axis=1)
    per_anchor = tf.where(has_positive, per_anchor, 0.0)
    num_anchors = tf.reduce_sum(tf.cast(has_positive, d.dtype))
    return tf.math.divide_no_nan(tf.reduce_sum(per_anchor), num_anchors)


def batch_all_loss(labels, embeddings, margin=0.2, distance="squared_l2"):
    """Batch-all triplet loss (sum of hinges / active triplets), as before."""
    distances, positive, negative = _batch(labels, embeddings, distance)
    b = tf.shape(distances)[0]
    margin = tf.cast(margin, distances.dtype)
    inf = tf.constant(float("inf"), distances.dtype)

    @tf.custom_gradient
    def hinges(d):
        _, values, count_neg = _sort_negatives(d, negative)
        in_range = tf.range(b)[None, :] < count_neg[:, None]
        sorted64 = tf.cast(tf.where(in_range, values, tf.zeros_like(values)), tf.float64)
        prefix = tf.concat([tf.zeros([b, 1], tf.float64), tf.cumsum(sorted64, axis=1)], axis=1)
        threshold = d + margin
        count = tf.searchsorted(values, threshold, side="left")
        count = tf.where(positive, count, tf.zeros_like(count))
        count64 = tf.cast(count, tf.float64)
        sums = count64 * tf.cast(threshold, tf.float64) - tf.gather(prefix, count, batch_dims=1)
        total = tf.reduce_sum(tf.where(positive, sums, tf.zeros_like(sums)))
        num_active = tf.reduce_sum(count64)

        def grad(upstream_total, upstream_num_active):
            del upstream_num_active
            thresholds = tf.sort(tf.where(positive, threshold, inf), axis=1)
            at_most = tf.searchsorted(thresholds, d, side="right")
            num_positive = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
            active_with = tf.where(negative, num_positive[:, None] - at_most, 0)
            per_cell = tf.cast(count - active_with, d.dtype)
            return tf.cast(upstream_total, d.dtype) * per_cell

        return (total, num_active), grad

    total, num_active = hinges(distances)
    return tf.cast(tf.math.divide_no_nan(total, num_active), distances.dtype)


LOSSES = {
    "semihard": semihard_loss,
    "batch_hard": batch_hard_loss,
    "batch_all": batch_all_loss,
}
