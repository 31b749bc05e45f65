"""Degenerate batches (finite values and gradients) and gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.distances import DISTANCES
from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.losses import (
    triplet_batch_all_loss,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
)
from tests.losses._batches import float32_atol
from tests.reference import triplet_reference as ref

# name -> (our loss(labels, x, margin, distance), reference(labels, x, margin, distance))
LOSSES = {
    "semihard": (
        lambda y, x, m, d: triplet_semihard_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.semihard_loss(y, x, m, d),
    ),
    "hard": (
        lambda y, x, m, d: triplet_batch_hard_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.batch_hard_loss(y, x, m, False, d),
    ),
    "hard_soft": (
        lambda y, x, m, d: triplet_batch_hard_loss(y, x, margin=m, soft=True, distance=d),
        lambda y, x, m, d: ref.batch_hard_loss(y, x, m, True, d),
    ),
    "all": (
        lambda y, x, m, d: triplet_batch_all_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.batch_all(y, x, m, d)["loss"],
    ),
}


def _value_and_gradient(fn, labels, x, margin, distance):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = fn(labels, x, margin, distance)
    return loss.numpy(), tape.gradient(loss, x).numpy()


rng = np.random.default_rng(42)
DEGENERATE = {
    "one_identity": ([3, 3, 3, 3], rng.normal(size=(4, 5))),
    "all_distinct": ([0, 1, 2, 3, 4], rng.normal(size=(5, 5))),
    "duplicate_embeddings": ([0, 0, 1, 1, 2], np.tile(rng.normal(size=(1, 5)), (5, 1))),
    "duplicates_within_identity": ([0, 0, 1, 1], np.repeat(rng.normal(size=(2, 5)), 2, axis=0)),
    "batch_of_one": ([7], rng.normal(size=(1, 5))),
    "zero_vectors": ([0, 0, 1], np.zeros((3, 5))),
}


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_batches_are_finite(case, name, distance):
    labels, x = DEGENERATE[case]
    fn, reference = LOSSES[name]
    value, grad = _value_and_gradient(fn, np.array(labels), x.astype(np.float32), 0.2, distance)
    assert np.isfinite(value) and value >= 0.0
    assert np.all(np.isfinite(grad))
    want = reference(labels, x.astype(np.float32), 0.2, distance)
    # float32_atol allows no error on equal rows: their distances must be exactly 0 (the
    # Gram expansion leaves ~5e-7 with oneDNN's matmul, ~7e-4 after the square root of L2).
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=float32_atol(x, distance))
    if case in ("all_distinct", "batch_of_one"):  # No anchor-positive pair: nothing to learn.
        assert value == 0.0 and np.all(grad == 0.0)


@pytest.mark.parametrize("name", ["semihard", "hard", "all"])
def test_identical_embeddings_cost_the_margin(name):
    """All distances 0: d_ap - d_an + margin = margin for every triplet (semi-hard falls
    back because no negative is strictly farther than 0)."""
    labels, x = DEGENERATE["duplicate_embeddings"]
    value = LOSSES[name][0](np.array(labels), x.astype(np.float32), 0.3, "l2")
    assert value.numpy() == pytest.approx(0.3, rel=1e-6)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(name, distance):
    """float64 gradient of our loss vs central differences of the numpy reference."""
    fn, reference = LOSSES[name]
    labels = np.array([0, 0, 0, 1, 1, 2])
    x = np.random.default_rng(3).normal(size=(6, 3))
    margin = 0.5
    _, grad = _value_and_gradient(fn, labels, x, margin, distance)
    h = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (
            reference(labels, up, margin, distance) - reference(labels, down, margin, distance)
        ) / (2 * h)
    assert np.abs(grad).max() > 1e-3  # the batch is not trivially inactive
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_bad_inputs_raise_typed_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(InvalidInputError, match="labels"):
        triplet_semihard_loss([0, 1, 2], x)
    with pytest.raises(InvalidInputError, match="embeddings"):
        triplet_semihard_loss([0, 1, 2, 3], np.zeros((4,), np.float32))
    with pytest.raises(InvalidInputError, match="labels"):
        triplet_semihard_loss(np.zeros((4, 2), np.int32), x)
    with pytest.raises(InvalidInputTypeError, match="embeddings"):
        triplet_batch_hard_loss([0, 1, 2, 3], np.zeros((4, 3), np.int32))
    with pytest.raises(InvalidInputError, match="distance"):
        triplet_batch_all_loss([0, 1, 2, 3], x, distance="L_2")


def test_batch_size_mismatch_in_graph_mode():
    fn = tf.function(
        triplet_semihard_loss,
        input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 3], tf.float32)],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        fn(tf.constant([0, 1, 2]), tf.zeros((4, 3)))
