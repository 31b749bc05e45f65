"""Triplet losses with online mining: semi-hard (FaceNet), batch-hard, batch-all.

All functions are pure and work eagerly, inside `tf.function` and under XLA
(``jit_compile=True``, TPUs); each runs as one graph. They compute in
float32 whatever the input dtype (float64 input stays float64), return a scalar of that
dtype, and keep memory at O(B^2): each anchor's positives are listed in a [B, Kmax]
table and its negatives placed among the positive distances by binary search, with no
[B, B, B] triplet tensor and no [B, B] sort (``facenet_tf.losses._mining``).

Semantics match TF Addons (``tfa.losses.TripletSemiHardLoss`` / ``TripletHardLoss`` with
``distance_metric`` "L2", "squared-L2" or "angular") on every batch TF Addons handles;
where TF Addons returns NaN (no anchor-positive pair at all) these return 0 with zero
gradients, and the batch-hard loss averages only over anchors that have a positive.
"""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.distances import canonical_distance
from facenet_tf.losses import _mining

DEFAULT_MARGIN = 0.2  # FaceNet's alpha, on squared L2 distances between unit vectors.


def _semihard(labels, embeddings, margin, distance, xla):
    batch = _mining.prepare_batch(labels, embeddings, distance, xla)
    column, fell_back = _mining.semihard_negatives(batch)
    # One gather for both distances: one scatter in the backward pass.
    columns = tf.concat([batch.positives, column], axis=1)
    d_ap, d_an = tf.split(tf.gather(batch.distances, columns, batch_dims=1), 2, axis=1)
    hinge = tf.nn.relu(d_ap - d_an + margin)
    per_pair = tf.where(batch.valid, hinge, tf.zeros_like(hinge))
    num_pairs = tf.reduce_sum(tf.cast(batch.valid, d_ap.dtype))
    loss = _mining.safe_divide(tf.reduce_sum(per_pair), num_pairs)
    return loss, batch.valid, d_ap, per_pair, d_an, fell_back, num_pairs


def triplet_semihard_loss(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
) -> tf.Tensor:
    """FaceNet's triplet loss with semi-hard negative mining (Schroff et al. 2015).

    Every anchor-positive pair (a, p), a != p, same label, is used. Its negative is the
    nearest negative strictly farther from a than p (semi-hard); if there is none, the
    farthest negative of a. The loss is the mean over all anchor-positive pairs of
    ``max(d(a, p) - d(a, n) + margin, 0)``.

    Args:
        labels: int [B] (or [B, 1]) identity labels.
        embeddings: float [B, D] embeddings (unit vectors in FaceNet).
        margin: alpha, in units of `distance`.
        distance: "squared_l2" (paper), "euclidean" ("l2") or "cosine" ("angular"); TF
            Addons spellings "squared-L2", "L2" and "angular" are accepted too.

    Returns:
        float32 scalar (float64 for float64 embeddings); 0 when the batch has no
        anchor-positive pair.
    """
    return _semihard_loss(labels, embeddings, margin, canonical_distance(distance))


def triplet_semihard_stats(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
) -> dict[str, tf.Tensor]:
    """Mining statistics of `triplet_semihard_loss` for monitoring (no gradients).

    Args:
        labels: int [B] identity labels.
        embeddings: float [B, D].
        margin: as in `triplet_semihard_loss`.
        distance: as in `triplet_semihard_loss`.

    Returns:
        float32 scalars, each averaged over the anchor-positive pairs (0 when none):
        ``fraction_active_triplets`` (triplets with a positive loss),
        ``mean_d_ap``, ``mean_d_an`` (the mined negative),
        ``fraction_fallback_negatives`` (pairs with no semi-hard negative, which fell
        back to the farthest negative), plus ``num_positive_pairs`` and ``loss``.
    """
    return _semihard_stats(
        labels, tf.stop_gradient(embeddings), margin, canonical_distance(distance)
    )


@_mining.in_graph
def _semihard_loss(labels, embeddings, margin, distance, xla):
    return _semihard(labels, embeddings, margin, distance, xla)[0]


@_mining.in_graph
def _semihard_stats(labels, embeddings, margin, distance, xla):
    loss, valid, d_ap, per_pair, d_an, fell_back, num_pairs = _semihard(
        labels, embeddings, margin, distance, xla
    )
    stats = _mining.semihard_pair_stats(valid, per_pair, d_ap, d_an, fell_back, num_pairs)
    stats.update(num_positive_pairs=num_pairs, loss=loss)
    return {k: tf.cast(v, tf.float32) for k, v in stats.items()}


def _batch_hard(labels, embeddings, margin, soft, distance, xla):
    batch = _mining.prepare_batch(labels, embeddings, distance, xla)
    d_ap = _mining.gather_positives(batch)
    has_positive = tf.reduce_any(batch.valid, axis=1)
    # Anchors without a positive are left out below; 0 keeps their terms finite.
    hardest_positive = tf.where(
        has_positive, _mining.masked_extreme(d_ap, batch.valid, largest=True), 0.0
    )
    hardest_negative = _mining.masked_extreme(batch.distances, batch.negative, largest=False)
    gap = hardest_positive - hardest_negative
    if soft:
        per_anchor = tf.nn.softplus(gap)  # log1p(exp(gap)), without overflow.
    else:
        per_anchor = tf.nn.relu(gap + margin)
    per_anchor = tf.where(has_positive, per_anchor, tf.zeros_like(per_anchor))
    num_anchors = tf.reduce_sum(tf.cast(has_positive, gap.dtype))
    loss = _mining.safe_divide(tf.reduce_sum(per_anchor), num_anchors)
    return loss, has_positive, per_anchor, hardest_positive, hardest_negative, num_anchors


def triplet_batch_hard_loss(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    soft: bool = False,
    distance: str = "squared_l2",
) -> tf.Tensor:
    """Batch-hard triplet loss (Hermans, Beyer, Leibe 2017, "In Defense of the Triplet Loss").

    Per anchor, its farthest positive and nearest negative:
    ``max(d_ap - d_an + margin, 0)``, or ``log1p(exp(d_ap - d_an))`` when `soft` (the
    margin is then unused). Averaged over anchors that have at least one positive;
    anchors without one contribute nothing. An anchor without any negative uses the
    maximum of its row as d_an (TF Addons' convention).

    Args:
        labels: int [B] identity labels.
        embeddings: float [B, D].
        margin: margin of the hinge.
        soft: use the soft-margin (softplus) variant.
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); TF Addons
            spellings accepted (``facenet_tf.distances.canonical_distance``).

    Returns:
        float32 scalar (float64 for float64 embeddings); 0 if no anchor has a positive.
    """
    return _batch_hard_loss(labels, embeddings, margin, bool(soft), canonical_distance(distance))


def triplet_batch_hard_stats(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    soft: bool = False,
    distance: str = "squared_l2",
) -> dict[str, tf.Tensor]:
    """Mining statistics of `triplet_batch_hard_loss` (no gradients).

    Returns:
        float32 scalars averaged over anchors that have a positive (0 when none):
        ``fraction_active_triplets`` (anchors with a positive loss), ``mean_d_ap``
        (hardest positive), ``mean_d_an`` (hardest negative), plus
        ``num_anchors_with_positive`` and ``loss``.
    """
    return _batch_hard_stats(
        labels, tf.stop_gradient(embeddings), margin, bool(soft), canonical_distance(distance)
    )


@_mining.in_graph
def _batch_hard_loss(labels, embeddings, margin, soft, distance, xla):
    return _batch_hard(labels, embeddings, margin, soft, distance, xla)[0]


@_mining.in_graph
def _batch_hard_stats(labels, embeddings, margin, soft, distance, xla):
    loss, has_pos, per_anchor, d_ap, d_an, num_anchors = _batch_hard(
        labels, embeddings, margin, soft, distance, xla
    )
    dtype = d_ap.dtype

    def mean_over_anchors(values):
        values = tf.where(has_pos, tf.cast(values, dtype), tf.zeros_like(d_ap))
        return _mining.safe_divide(tf.reduce_sum(values), num_anchors)

    stats = {
        "fraction_active_triplets": mean_over_anchors(per_anchor > 0.0),
        "mean_d_ap": mean_over_anchors(d_ap),
        "mean_d_an": mean_over_anchors(d_an),
        "num_anchors_with_positive": num_anchors,
        "loss": loss,
    }
    return {k: tf.cast(v, tf.float32) for k, v in stats.items()}


def _batch_all(labels, embeddings, margin, distance, xla):
    batch = _mining.prepare_batch(labels, embeddings, distance, xla)
    dtype = batch.distances.dtype
    total, num_active = _mining.batch_all_hinges(batch, margin, xla)
    positives_per_anchor = tf.reduce_sum(tf.cast(batch.valid, tf.float64), axis=1)
    negatives_per_anchor = tf.cast(batch.num_negatives, tf.float64)
    num_valid = tf.reduce_sum(positives_per_anchor * negatives_per_anchor)
    loss = tf.cast(_mining.safe_divide(total, num_active), dtype)
    fraction = tf.cast(_mining.safe_divide(num_active, num_valid), dtype)
    return loss, fraction, batch, num_active, num_valid


def triplet_batch_all_loss(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
    return_fraction: bool = False,
):
    """Batch-all triplet loss: mean over the valid triplets whose loss is positive.

    A valid triplet is (a, p, n) with a != p of the same label and n of another label;
    its loss is ``max(d(a, p) - d(a, n) + margin, 0)``. The loss is the sum over valid
    triplets divided by the number of active ones (loss > 0), as in Hermans et al.
    2017's "batch all" with the non-zero average.

    Args:
        labels: int [B] identity labels.
        embeddings: float [B, D].
        margin: margin of the hinge.
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); TF Addons
            spellings accepted (``facenet_tf.distances.canonical_distance``).
        return_fraction: also return the fraction of valid triplets that are active.

    Returns:
        float32 scalar loss (0 without active triplets), or (loss, fraction_active).
    """
    loss, fraction = _batch_all_loss(labels, embeddings, margin, canonical_distance(distance))
    return (loss, fraction) if return_fraction else loss


def triplet_batch_all_stats(
    labels,
    embeddings,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
) -> dict[str, tf.Tensor]:
    """Mining statistics of `triplet_batch_all_loss` (no gradients).

    Returns:
        float32 scalars: ``fraction_active_triplets`` (active / valid triplets),
        ``mean_d_ap`` over anchor-positive pairs, ``mean_d_an`` over anchor-negative
        pairs, ``num_valid_triplets``, ``num_active_triplets`` and ``loss``.
    """
    return _batch_all_stats(
        labels, tf.stop_gradient(embeddings), margin, canonical_distance(distance)
    )


@_mining.in_graph
def _batch_all_loss(labels, embeddings, margin, distance, xla):
    return _batch_all(labels, embeddings, margin, distance, xla)[:2]


@_mining.in_graph
def _batch_all_stats(labels, embeddings, margin, distance, xla):
    loss, fraction, batch, num_active, num_valid = _batch_all(
        labels, embeddings, margin, distance, xla
    )

    def masked_mean(values, mask):
        total = tf.reduce_sum(tf.where(mask, values, tf.zeros_like(values)))
        return _mining.safe_divide(total, tf.reduce_sum(tf.cast(mask, values.dtype)))

    stats = {
        "fraction_active_triplets": fraction,
        "mean_d_ap": masked_mean(_mining.gather_positives(batch), batch.valid),
        "mean_d_an": masked_mean(batch.distances, batch.negative),
        "num_valid_triplets": num_valid,
        "num_active_triplets": num_active,
        "loss": loss,
    }
    return {k: tf.cast(v, tf.float32) for k, v in stats.items()}
