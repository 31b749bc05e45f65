"""Triplet losses against the brute-force loops of tests/reference/triplet_reference.py.

These are the equality checks with TF Addons' semantics: `ref.tfa_semihard_loss` and
`ref.tfa_hard_loss` encode ``tfa.losses.TripletSemiHardLoss`` / ``TripletHardLoss`` one
triplet at a time, and our losses are called with TF Addons' own ``distance_metric``
spellings ("L2", "squared-L2", "angular"), margins other than the default and soft=True.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.losses import (
    triplet_batch_all_loss,
    triplet_batch_all_stats,
    triplet_batch_hard_loss,
    triplet_batch_hard_stats,
    triplet_semihard_loss,
    triplet_semihard_stats,
)
from tests.losses._batches import float32_atol, random_batch
from tests.reference import triplet_reference as ref

TFA_DISTANCES = ["L2", "squared-L2", "angular"]  # the reference reads them too
# Relative: float32 means over up to B^3 triplets lose about eps log2(n) (~20 eps here);
# 1e-5 is ~84 eps. Absolute: the distances' rounding, from float32_atol.
RTOL = 1e-5

# (seed, batch size, dim, identities, unit rows): several shapes and label counts.
SHAPES = [
    (0, 2, 3, 1, True),
    (1, 9, 2, 3, True),
    (2, 24, 16, 4, True),
    (3, 40, 128, 10, True),
    (4, 17, 5, 2, False),
    (5, 32, 8, 16, False),
]


@pytest.mark.parametrize("tfa_distance", TFA_DISTANCES)
@pytest.mark.parametrize("margin", [1.0, 0.2, 0.05])
@pytest.mark.parametrize("shape", SHAPES)
def test_semihard_equals_tfa_semantics(shape, margin, tfa_distance):
    seed, b, d, k, unit = shape
    labels, x = random_batch(seed, b, d, k, unit=unit, every_label_twice=b >= 2 * k)
    want = ref.tfa_semihard_loss(labels, x, margin, tfa_distance)
    got = triplet_semihard_loss(labels, x, margin=margin, distance=tfa_distance)
    np.testing.assert_allclose(got.numpy(), want, rtol=RTOL, atol=float32_atol(x, tfa_distance))


@pytest.mark.parametrize("tfa_distance", TFA_DISTANCES)
@pytest.mark.parametrize(("margin", "soft"), [(1.0, False), (0.3, False), (1.0, True)])
@pytest.mark.parametrize("shape", [s for s in SHAPES if s[1] >= 2 * s[3]])
def test_batch_hard_equals_tfa_when_every_label_repeats(shape, margin, soft, tfa_distance):
    seed, b, d, k, unit = shape
    labels, x = random_batch(seed, b, d, k, unit=unit, every_label_twice=True)
    want = ref.tfa_hard_loss(labels, x, margin, soft, tfa_distance)
    got = triplet_batch_hard_loss(labels, x, margin=margin, soft=soft, distance=tfa_distance)
    np.testing.assert_allclose(got.numpy(), want, rtol=RTOL, atol=float32_atol(x, tfa_distance))


@pytest.mark.parametrize("soft", [False, True])
def test_batch_hard_skips_anchors_without_positive(soft):
    """With singleton identities our mean leaves them out; TF Addons' mean does not."""
    labels = np.array([0, 0, 1, 1, 1, 2, 3], np.int32)
    x = random_batch(7, len(labels), 4, 1)[1]
    got = triplet_batch_hard_loss(labels, x, margin=0.2, soft=soft).numpy()
    want = ref.batch_hard_loss(labels, x, 0.2, soft)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=float32_atol(x))
    tfa = ref.tfa_hard_loss(labels, x, 0.2, soft, "squared_l2")
    assert abs(got - tfa) > 1e-3


def test_tfa_semihard_without_pairs_is_nan_ours_is_zero():
    labels = np.arange(5, dtype=np.int32)
    x = random_batch(8, 5, 3, 5)[1]
    assert np.isnan(ref.tfa_semihard_loss(labels, x))
    assert triplet_semihard_loss(labels, x).numpy() == 0.0


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_all_matches_triple_loop(shape, distance):
    seed, b, d, k, unit = shape
    labels, x = random_batch(seed, b, d, k, unit=unit)
    want = ref.batch_all(labels, x, 0.2, distance)
    atol = float32_atol(x, distance)
    loss, fraction = triplet_batch_all_loss(labels, x, distance=distance, return_fraction=True)
    np.testing.assert_allclose(loss.numpy(), want["loss"], rtol=RTOL, atol=atol)
    np.testing.assert_allclose(fraction.numpy(), want["fraction_active_triplets"], rtol=RTOL)
    stats = triplet_batch_all_stats(labels, x, distance=distance)
    for key in ("num_valid_triplets", "num_active_triplets", "mean_d_ap", "mean_d_an"):
        np.testing.assert_allclose(stats[key].numpy(), want[key], rtol=RTOL, atol=atol)


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
@pytest.mark.parametrize("shape", SHAPES)
def test_semihard_stats_match_reference(shape, distance):
    seed, b, d, k, unit = shape
    labels, x = random_batch(seed, b, d, k, unit=unit)
    want = ref.semihard_stats(labels, x, 0.2, distance)
    got = triplet_semihard_stats(labels, x, distance=distance)
    atol = float32_atol(x, distance)
    for key, value in want.items():
        np.testing.assert_allclose(got[key].numpy(), value, rtol=RTOL, atol=atol, err_msg=key)
    np.testing.assert_allclose(
        got["loss"].numpy(), ref.semihard_loss(labels, x, 0.2, distance), rtol=RTOL, atol=atol
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_hard_stats_match_reference(shape):
    seed, b, d, k, unit = shape
    labels, x = random_batch(seed, b, d, k, unit=unit)
    want = ref.batch_hard_stats(labels, x, 0.2)
    got = triplet_batch_hard_stats(labels, x)
    atol = float32_atol(x)
    for key, value in want.items():
        np.testing.assert_allclose(got[key].numpy(), value, rtol=RTOL, atol=atol, err_msg=key)


LOSSES = {
    "semihard": (triplet_semihard_loss, ref.semihard_loss),
    "hard": (triplet_batch_hard_loss, ref.batch_hard_loss),
    "all": (triplet_batch_all_loss, lambda y, x: ref.batch_all(y, x)["loss"]),
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_dtypes(name, dtype):
    """Every input dtype gives the float32 (float64) value of the rounded inputs."""
    fn, reference = LOSSES[name]
    labels, x = random_batch(11, 30, 32, 6)
    x_cast = tf.cast(tf.constant(x), dtype)
    got = fn(labels, x_cast)
    assert got.dtype == (tf.float64 if dtype == "float64" else tf.float32)
    want = reference(labels, tf.cast(x_cast, tf.float64).numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=RTOL, atol=float32_atol(x))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_graph_mode_with_unknown_shapes(name):
    """Same value inside tf.function with a [None] / [None, None] signature."""
    fn, reference = LOSSES[name]
    labels, x = random_batch(12, 21, 6, 5)
    graph_fn = tf.function(
        fn,
        input_signature=[
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, None], tf.float32),
        ],
    )
    got, want = graph_fn(labels, x).numpy(), reference(labels, x)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=float32_atol(x))
    labels, x = random_batch(13, 9, 6, 3)  # another batch size, same trace
    got, want = graph_fn(labels, x).numpy(), reference(labels, x)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=float32_atol(x))
