"""Harmonic (backward-compatible) embedding loss: cross-model semi-hard triplets.

FaceNet's appendix trains a new model v2 whose vectors can be compared directly with an
older model v1's (a gallery embedded with v1 need not be recomputed). v1's vectors of
the training images are fixed; triplets mix the two models. Here, for a batch of B
images with labels y, new vectors e = v2(x) [B, D] and the reference's r = v1(x) [B, D]:

* new -> reference: anchor e_a, positive r_p (y_p = y_a, p = a included: the
  reference's vector of the anchor's own image), negative r_n (y_n != y_a), mined
  semi-hard among the reference's vectors of the whole batch;
* reference -> new: anchor r_a, positive e_p and negative e_n among the new vectors.

Semi-hard as in `triplet_semihard_loss`: the nearest negative strictly farther from the
anchor than the positive, else the anchor's farthest negative; an anchor without any
negative takes d_an = 0 (as d(a, a) = 0 does within one model). The mining is that of
the within-model loss (``facenet_tf.losses._mining``) on the rectangular anchors x
candidates matrix. The compatibility loss is the mean of the two directions' hinge
means, plus ``regression_weight`` times the mean distance between each image's two
vectors (with ``squared_l2``: ``|e_i - r_i|^2``, regression to the reference vectors).

Nothing is centred or re-normalised: the reference's vectors are used in the
reference's own space, the one its users compare in. The reference carries no gradient.
"""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.distances import canonical_distance
from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.losses import _mining
from facenet_tf.losses.distances import pairwise_distances
from facenet_tf.losses.triplet import DEFAULT_MARGIN


def _cross_semihard(labels, distances, margin, xla):
    """Semi-hard triplet hinges of one direction on anchors x candidates [B, B]."""
    batch = _mining.prepare_cross_batch(labels, distances, xla)
    column, fell_back = _mining.semihard_negatives(batch)
    columns = tf.concat([batch.positives, column], axis=1)
    d_ap, d_an = tf.split(tf.gather(batch.distances, columns, batch_dims=1), 2, axis=1)
    d_an = tf.where(batch.num_negatives[:, None] > 0, d_an, tf.zeros_like(d_an))
    hinge = tf.nn.relu(d_ap - d_an + margin)
    per_pair = tf.where(batch.valid, hinge, tf.zeros_like(hinge))
    num_pairs = tf.reduce_sum(tf.cast(batch.valid, d_ap.dtype))
    loss = _mining.safe_divide(tf.reduce_sum(per_pair), num_pairs)
    stats = _mining.semihard_pair_stats(batch.valid, per_pair, d_ap, d_an, fell_back, num_pairs)
    return loss, stats


def _harmonic(labels, embeddings, reference, margin, regression_weight, distance, xla):
    b = tf.shape(embeddings)[0]
    # One distance matrix of the 2B vectors (the losses' one distance code); its
    # off-diagonal blocks are the two directions.
    joint = tf.concat([embeddings, tf.stop_gradient(reference)], axis=0)
    d = pairwise_distances(joint, distance)
    new_ref, ref_new = d[:b, b:], d[b:, :b]
    forward, forward_stats = _cross_semihard(labels, new_ref, margin, xla)
    backward, backward_stats = _cross_semihard(labels, ref_new, margin, xla)
    matched = tf.linalg.diag_part(new_ref)  # each image's new vector vs its reference
    regression = _mining.safe_divide(tf.reduce_sum(matched), tf.cast(b, matched.dtype))
    triplet = 0.5 * (forward + backward)
    loss = triplet + regression_weight * regression
    stats = {
        "loss": loss,
        "cross_triplet_loss": triplet,
        "new_to_reference_loss": forward,
        "reference_to_new_loss": backward,
        "matched_distance": regression,
    }
    for key in forward_stats:
        stats[key] = 0.5 * (forward_stats[key] + backward_stats[key])
    return loss, stats


@tf.function(reduce_retracing=True)
def _harmonic_loss(labels, embeddings, reference, margin, regression_weight, distance, xla):
    return _harmonic(labels, embeddings, reference, margin, regression_weight, distance, xla)[0]


@tf.function(reduce_retracing=True)
def _harmonic_stats(labels, embeddings, reference, margin, regression_weight, distance, xla):
    stats = _harmonic(labels, embeddings, reference, margin, regression_weight, distance, xla)[1]
    return {k: tf.cast(v, tf.float32) for k, v in stats.items()}


def _check(labels, embeddings, reference, margin, regression_weight):
    """Validated, cast inputs (typed errors raised as the call is made)."""
    labels, embeddings = _mining._check_inputs(labels, embeddings)
    reference = tf.convert_to_tensor(reference)
    if not reference.dtype.is_floating:
        raise InvalidInputTypeError(
            f"reference must be a float tensor [B, D]; got dtype {reference.dtype.name}"
        )
    if reference.shape.rank is not None and reference.shape.rank != 2:
        raise InvalidInputError(f"reference must have shape [B, D]; got {reference.shape}")
    if reference.shape.is_fully_defined() and embeddings.shape.is_fully_defined():
        if reference.shape != embeddings.shape:
            raise InvalidInputError(
                f"reference {reference.shape} must match embeddings {embeddings.shape}: one "
                "reference vector per image, in the same space"
            )
    else:
        check = tf.debugging.assert_equal(
            tf.shape(reference),
            tf.shape(embeddings),
            message="reference and embeddings must have the same shape [B, D]",
        )
        with tf.control_dependencies([check]):
            reference = tf.identity(reference)
    dtype = _mining.compute_dtype(embeddings.dtype)
    embeddings, reference = tf.cast(embeddings, dtype), tf.cast(reference, dtype)
    return labels, embeddings, reference, tf.cast(margin, dtype), tf.cast(regression_weight, dtype)


def harmonic_loss(
    labels,
    embeddings,
    reference,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
    regression_weight: float = 0.0,
) -> tf.Tensor:
    """Compatibility of new vectors with a frozen reference model's (FaceNet appendix).

    ``0.5 * (L(new -> reference) + L(reference -> new)) + regression_weight * mean_i
    d(e_i, r_i)``, each L the mean over (anchor, positive) pairs of the semi-hard hinge
    ``max(d_ap - d_an + margin, 0)`` with anchors from one model and positives and
    negatives from the other (module docstring).

    Args:
        labels: int [B] (or [B, 1]) identity labels of the images.
        embeddings: float [B, D], the new model's vectors (carry the gradient).
        reference: float [B, D], the reference model's vectors of the same images, in
            its own space (no gradient).
        margin: alpha, in units of `distance`.
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular").
        regression_weight: weight of the mean matched distance (>= 0).

    Returns:
        float32 scalar (float64 for float64 embeddings); 0 for an empty batch.
    """
    args = _check(labels, embeddings, reference, margin, regression_weight)
    return _harmonic_loss(*args, canonical_distance(distance), _mining._compiling_with_xla())


def harmonic_stats(
    labels,
    embeddings,
    reference,
    margin: float = DEFAULT_MARGIN,
    distance: str = "squared_l2",
    regression_weight: float = 0.0,
) -> dict[str, tf.Tensor]:
    """Terms and mining statistics of `harmonic_loss` for monitoring (no gradients).

    Returns:
        float32 scalars: ``loss``; ``cross_triplet_loss`` (mean of the directions),
        ``new_to_reference_loss``, ``reference_to_new_loss``; ``matched_distance`` (mean
        d(e_i, r_i), the regression term before its weight); and, averaged over both
        directions' (anchor, positive) pairs, ``fraction_active_triplets``,
        ``mean_d_ap``, ``mean_d_an``, ``fraction_fallback_negatives``.
    """
    labels, embeddings, reference, margin, weight = _check(
        labels, embeddings, reference, margin, regression_weight
    )
    return _harmonic_stats(
        labels,
        tf.stop_gradient(embeddings),
        reference,
        margin,
        weight,
        canonical_distance(distance),
        _mining._compiling_with_xla(),
    )
