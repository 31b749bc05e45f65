"""Batches that are not P x K ordered, against the float64 loops and the previous losses.

The losses list each anchor's positives in a [B, Kmax] table built from the labels; these
batches exercise it with shuffled labels, unequal identity sizes, singletons (anchors
without a positive), one identity much larger than the others (wide padding) and string
labels. Values are checked against the brute-force float64 loops of
tests/reference/triplet_reference.py, gradients against the previous sort-based
implementation (tests/losses/previous_triplet.py) and against numerical differentiation.
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
from tests.losses import previous_triplet
from tests.losses._batches import float32_atol, labels_with_counts
from tests.reference import triplet_reference as ref

RTOL = 1e-5

# Identity sizes; the labels are shuffled random ids with these counts.
COUNTS = {
    "shuffled_p_x_k": [4] * 6,
    "unequal_sizes": [2, 7, 3, 1, 5, 2],
    "singletons_and_a_large_identity": [1, 1, 1, 12, 1, 1, 2],
    "pairs": [2] * 9,
    "one_identity_and_a_singleton": [9, 1],
}

LOSSES = {
    "semihard": (
        lambda y, x, m, d: triplet_semihard_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.semihard_loss(y, x, m, d),
        lambda y, x, m, d: previous_triplet.semihard_loss(y, x, m, d),
    ),
    "hard": (
        lambda y, x, m, d: triplet_batch_hard_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.batch_hard_loss(y, x, m, False, d),
        lambda y, x, m, d: previous_triplet.batch_hard_loss(y, x, m, False, d),
    ),
    "hard_soft": (
        lambda y, x, m, d: triplet_batch_hard_loss(y, x, margin=m, soft=True, distance=d),
        lambda y, x, m, d: ref.batch_hard_loss(y, x, m, True, d),
        lambda y, x, m, d: previous_triplet.batch_hard_loss(y, x, m, True, d),
    ),
    "all": (
        lambda y, x, m, d: triplet_batch_all_loss(y, x, margin=m, distance=d),
        lambda y, x, m, d: ref.batch_all(y, x, m, d)["loss"],
        lambda y, x, m, d: previous_triplet.batch_all_loss(y, x, m, d),
    ),
}


def _batch(case: str, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = labels_with_counts(rng, COUNTS[case])
    x = rng.normal(size=(len(labels), dim))
    return labels, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _value_and_gradient(fn, labels, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = fn(labels, x)
    return loss.numpy(), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("case", sorted(COUNTS))
def test_value_matches_the_float64_loop(case, name, distance):
    labels, x = _batch(case)
    ours, reference, _ = LOSSES[name]
    got = ours(labels, x, 0.3, distance).numpy()
    want = reference(labels, x, 0.3, distance)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=float32_atol(x, distance))


@pytest.mark.parametrize("case", sorted(COUNTS))
def test_stats_match_the_float64_loops(case):
    labels, x = _batch(case, seed=1)
    atol = float32_atol(x)
    checks = [
        (triplet_semihard_stats(labels, x), ref.semihard_stats(labels, x)),
        (triplet_batch_hard_stats(labels, x), ref.batch_hard_stats(labels, x)),
        (triplet_batch_all_stats(labels, x), ref.batch_all(labels, x)),
    ]
    for got, want in checks:
        for key in set(got) & set(want):
            np.testing.assert_allclose(
                got[key].numpy(), want[key], rtol=RTOL, atol=atol, err_msg=key
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_and_gradient_match_the_previous_losses(name, distance, dtype):
    """A larger general batch (B = 160, 30 identities of 1 to 11 faces, shuffled): same
    mined triplets, so the same value and gradient up to float rounding."""
    rng = np.random.default_rng(2)
    labels = labels_with_counts(rng, list(rng.integers(1, 12, 30)))
    x = rng.normal(size=(len(labels), 16)).astype(dtype)
    ours, _, previous = LOSSES[name]
    value, grad = _value_and_gradient(lambda y, e: ours(y, e, 0.2, distance), labels, x)
    want_value, want_grad = _value_and_gradient(
        lambda y, e: previous(y, e, 0.2, distance), labels, x
    )
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(value, want_value, rtol=8 * eps * np.log2(len(x)), atol=0)
    scale = np.abs(want_grad).max()
    assert scale > 0.0
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=64 * eps * scale)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_numerical_differentiation(name):
    """float64, shuffled unequal identities with a singleton: tf.test.compute_gradient."""
    labels = np.array([2, 0, 1, 0, 2, 3, 0, 1, 2, 2])
    x = np.random.default_rng(3).normal(size=(len(labels), 3))
    ours = LOSSES[name][0]
    theoretical, numerical = tf.test.compute_gradient(
        lambda e: ours(labels, e, 0.5, "squared_l2"), [tf.constant(x)], delta=1e-6
    )
    assert np.abs(theoretical[0]).max() > 1e-3
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_string_labels_equal_int_labels(name):
    labels, x = _batch("unequal_sizes", seed=4)
    names = np.array([f"person_{k}" for k in labels])
    ours = LOSSES[name][0]
    got = ours(tf.constant(names), x, 0.2, "squared_l2").numpy()
    assert got == ours(labels, x, 0.2, "squared_l2").numpy()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compiles_with_xla(name):
    """TPU training compiles the loss: value and gradient under jit_compile equal eager."""
    labels, x = _batch("singletons_and_a_large_identity", seed=5)
    ours = LOSSES[name][0]

    def value_and_gradient(y, e):
        with tf.GradientTape() as tape:
            tape.watch(e)
            loss = ours(y, e, 0.2, "squared_l2")
        return loss, tape.gradient(loss, e)

    compiled = tf.function(value_and_gradient, jit_compile=True)
    got_value, got_grad = compiled(tf.constant(labels), tf.constant(x))
    want_value, want_grad = value_and_gradient(tf.constant(labels), tf.constant(x))
    # XLA fuses and reorders float32 arithmetic: the distances' rounding bounds the gap.
    atol = float32_atol(x)
    np.testing.assert_allclose(got_value.numpy(), want_value.numpy(), rtol=RTOL, atol=atol)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-4, atol=1e-6)
