"""The harmonic (cross-model) loss against a float64 brute-force numpy reference, hand
cases, degenerate batches, gradients, graph/eager/XLA agreement."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.distances import DISTANCES
from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.losses import harmonic_loss, harmonic_stats
from tests.losses._batches import float32_atol, random_batch
from tests.reference import distances_reference as dref

RTOL = 1e-5


def _cross_terms(labels, anchors, candidates, margin, distance):
    """One (d_ap, d_an, hinge, fell_back) per anchor and same-label candidate (its own
    image's included), by triple loop: semi-hard = nearest negative strictly farther
    than the positive, else the farthest negative, else (no negative) d_an = 0."""
    d = dref.pairwise(anchors, candidates, distance)
    terms = []
    for a in range(len(labels)):
        negatives = [d[a, n] for n in range(len(labels)) if labels[n] != labels[a]]
        for p in range(len(labels)):
            if labels[p] != labels[a]:
                continue
            farther = [x for x in negatives if x > d[a, p]]
            if farther:
                d_an, fell = min(farther), False
            else:
                d_an, fell = (max(negatives) if negatives else 0.0), True
            terms.append((d[a, p], d_an, max(d[a, p] - d_an + margin, 0.0), fell))
    return terms


def reference_stats(labels, e, r, margin=0.2, distance="squared_l2", weight=0.0) -> dict:
    labels = list(np.asarray(labels).ravel())
    e, r = np.asarray(e, np.float64), np.asarray(r, np.float64)
    out = {}
    directions = {
        "new_to_reference_loss": _cross_terms(labels, e, r, margin, distance),
        "reference_to_new_loss": _cross_terms(labels, r, e, margin, distance),
    }
    for key, terms in directions.items():
        out[key] = float(np.mean([t[2] for t in terms])) if terms else 0.0
    both = directions["new_to_reference_loss"] + directions["reference_to_new_loss"]

    def mean(values):
        return float(np.mean(values)) if values else 0.0

    out["fraction_active_triplets"] = mean([t[2] > 0 for t in both])
    out["mean_d_ap"] = mean([t[0] for t in both])
    out["mean_d_an"] = mean([t[1] for t in both])
    out["fraction_fallback_negatives"] = mean([t[3] for t in both])
    out["cross_triplet_loss"] = 0.5 * (out["new_to_reference_loss"] + out["reference_to_new_loss"])
    out["matched_distance"] = mean(
        [dref.distance(u, v, distance) for u, v in zip(e, r, strict=True)]
    )
    out["loss"] = out["cross_triplet_loss"] + weight * out["matched_distance"]
    return out


def _pair(seed, b, d, k, unit=True, noise=0.3):
    """labels, new vectors and reference vectors near them (so triplets are mixed)."""
    labels, e = random_batch(seed, b, d, k, unit=unit)
    rng = np.random.default_rng(seed + 1000)
    r = e + noise * rng.normal(size=e.shape)
    if unit:
        r /= np.linalg.norm(r, axis=1, keepdims=True)
    return labels, e, r.astype(np.float32)


SHAPES = [  # seed, B, D, identities, unit rows
    (0, 12, 4, 3, True),
    (1, 30, 8, 6, True),
    (2, 40, 16, 10, False),
    (3, 9, 3, 9, True),  # mostly singletons
]


@pytest.mark.parametrize("weight", [0.0, 0.7])
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_triple_loop(shape, distance, weight):
    seed, b, d, k, unit = shape
    labels, e, r = _pair(seed, b, d, k, unit)
    want = reference_stats(labels, e, r, 0.2, distance, weight)
    atol = 2 * float32_atol(np.concatenate([e, r]), distance) * (1 + weight)
    got = harmonic_loss(labels, e, r, margin=0.2, distance=distance, regression_weight=weight)
    np.testing.assert_allclose(got.numpy(), want["loss"], rtol=RTOL, atol=atol)
    stats = harmonic_stats(labels, e, r, margin=0.2, distance=distance, regression_weight=weight)
    assert set(stats) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(stats[key].numpy(), value, rtol=RTOL, atol=atol, err_msg=key)


def test_hand_derived_case():
    """1-D vectors, labels [0, 0, 1], e = [0, 1, 3], r = [0.5, 1, 2], margin 1, squared L2.

    new -> reference (rows e_a, columns r_c): d = [[.25, 1, 4], [.25, 0, 1], [6.25, 4, 1]].
    Pairs (a, p): (0,0) .25-4+1 < 0; (0,1) 1-4+1 < 0; (1,0) .25-1+1 = .25; (1,1) 0-1+1 =
    0; (2,2): negatives 6.25 and 4, nearest farther than 1 is 4: 1-4+1 < 0. Mean .25/5.
    reference -> new: d = [[.25, .25, 6.25], [1, 0, 4], [4, 1, 1]]; (2,2) has d_ap = 1 and
    negatives 4 and 1: 1 is not strictly farther, so 4 is mined (hinge 0, not 1). All
    hinges 0. Cross loss .5 (.05 + 0) = .025; matched distances .25, 0, 1: mean 5/12.
    """
    labels = np.array([0, 0, 1])
    e = np.array([[0.0], [1.0], [3.0]], np.float32)
    r = np.array([[0.5], [1.0], [2.0]], np.float32)
    got = harmonic_stats(labels, e, r, margin=1.0, regression_weight=0.6)
    assert got["new_to_reference_loss"].numpy() == pytest.approx(0.05, rel=1e-6)
    assert got["reference_to_new_loss"].numpy() == 0.0
    assert got["matched_distance"].numpy() == pytest.approx(5 / 12, rel=1e-6)
    want = 0.025 + 0.6 * 5 / 12
    assert harmonic_loss(labels, e, r, 1.0, regression_weight=0.6).numpy() == pytest.approx(
        want, rel=1e-6
    )


def test_identical_models_cost_nothing_beyond_within_model_terms():
    """r = e: the matched distance is exactly 0; a well-separated batch has no hinge."""
    labels = np.array([0, 0, 1, 1])
    e = np.array([[1, 0], [0.99, 0.141], [-1, 0], [-0.99, 0.141]], np.float32)
    stats = harmonic_stats(labels, e, e.copy())
    assert stats["matched_distance"].numpy() == 0.0
    assert stats["loss"].numpy() == 0.0


def _value_and_gradients(labels, e, r, margin, distance, weight):
    e, r = tf.constant(e), tf.constant(r)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([e, r])
        loss = harmonic_loss(labels, e, r, margin, distance, weight)
    grad_e, grad_r = tape.gradient(loss, e), tape.gradient(loss, r)
    return loss.numpy(), grad_e.numpy(), grad_r


rng = np.random.default_rng(7)
_X = rng.normal(size=(5, 4))
DEGENERATE = {
    "one_identity": ([3, 3, 3, 3, 3], _X, _X + 0.1 * rng.normal(size=_X.shape)),
    "all_distinct": ([0, 1, 2, 3, 4], _X, _X[::-1].copy()),
    "reference_equals_new": ([0, 0, 1, 1, 2], _X, _X.copy()),
    "all_rows_equal": ([0, 0, 1, 1, 2], np.tile(_X[:1], (5, 1)), np.tile(_X[:1], (5, 1))),
    "batch_of_one": ([7], _X[:1], _X[1:2]),
    "zero_vectors": ([0, 0, 1], np.zeros((3, 4)), np.zeros((3, 4))),
}


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_batches_are_finite(case, distance):
    labels, e, r = DEGENERATE[case]
    e, r = e.astype(np.float32), r.astype(np.float32)
    value, grad_e, grad_r = _value_and_gradients(np.array(labels), e, r, 0.2, distance, 0.5)
    assert np.isfinite(value) and value >= 0.0
    assert np.all(np.isfinite(grad_e))
    assert grad_r is None or not np.any(grad_r.numpy())  # the reference is frozen
    want = reference_stats(labels, e, r, 0.2, distance, 0.5)["loss"]
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=2 * float32_atol(np.r_[e, r], distance))


def test_one_identity_uses_zero_negative_distance():
    """No negative at all: d_an = 0, so every cross pair costs d_ap + margin."""
    labels, e, r = DEGENERATE["one_identity"]
    d = dref.pairwise(e, r, "squared_l2")
    want = 0.5 * (np.mean(d + 0.2) + np.mean(d.T + 0.2))
    np.testing.assert_allclose(harmonic_loss(labels, e, r).numpy(), want, rtol=1e-5)


def test_empty_batch_is_zero():
    e = np.zeros((0, 4), np.float32)
    assert harmonic_loss(np.zeros(0, np.int32), e, e, regression_weight=1.0).numpy() == 0.0


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradient_matches_finite_differences(distance):
    """float64 gradient w.r.t. the new vectors vs central differences of the reference."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    r0 = np.random.default_rng(3).normal(size=(6, 3))
    e = r0 + 0.8 * np.random.default_rng(4).normal(size=(6, 3))
    margin, weight = 0.5, 0.3
    _, grad, _ = _value_and_gradients(labels, e, r0, margin, distance, weight)

    def f(x):
        return reference_stats(labels, x, r0, margin, distance, weight)["loss"]

    h = 1e-6
    numeric = np.zeros_like(e)
    for idx in np.ndindex(*e.shape):
        up, down = e.copy(), e.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (f(up) - f(down)) / (2 * h)
    assert np.abs(grad).max() > 1e-3
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtypes(dtype):
    labels, e, r = _pair(5, 16, 8, 4)
    e16, r16 = tf.cast(e, dtype), tf.cast(r, dtype)
    got = harmonic_loss(labels, e16, r16, regression_weight=0.5)
    assert got.dtype == (tf.float64 if dtype == "float64" else tf.float32)
    want = reference_stats(
        labels, tf.cast(e16, tf.float64).numpy(), tf.cast(r16, tf.float64).numpy(), weight=0.5
    )["loss"]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_graph_eager_and_xla_agree():
    labels, e, r = _pair(6, 24, 8, 6)

    def value_and_grad(y, x, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = harmonic_loss(y, x, ref, 0.2, "squared_l2", 0.5)
        return loss, tape.gradient(loss, x)

    eager = value_and_grad(labels, tf.constant(e), tf.constant(r))
    spec = [
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, 8], tf.float32),
        tf.TensorSpec([None, 8], tf.float32),
    ]
    graph = tf.function(value_and_grad, input_signature=spec)(labels, e, r)
    xla = tf.function(value_and_grad, jit_compile=True)(labels, e, r)
    for got in (graph, xla):
        np.testing.assert_allclose(got[0].numpy(), eager[0].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1].numpy(), eager[1].numpy(), rtol=1e-4, atol=1e-6)


def test_loss_and_mining_are_symmetric_in_label_renaming_and_permutation():
    labels, e, r = _pair(8, 20, 6, 5)
    base = harmonic_loss(labels, e, r, regression_weight=0.2).numpy()
    perm = np.random.default_rng(0).permutation(len(labels))
    renamed = (labels * 7 + 3)[perm]
    got = harmonic_loss(renamed, e[perm], r[perm], regression_weight=0.2).numpy()
    np.testing.assert_allclose(got, base, rtol=1e-5, atol=1e-6)


def test_bad_inputs_raise_typed_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(InvalidInputError, match="reference"):
        harmonic_loss([0, 1, 2, 3], x, np.zeros((4, 5), np.float32))
    with pytest.raises(InvalidInputError, match="reference"):
        harmonic_loss([0, 1, 2, 3], x, np.zeros((3, 3), np.float32))
    with pytest.raises(InvalidInputTypeError, match="reference"):
        harmonic_loss([0, 1, 2, 3], x, np.zeros((4, 3), np.int32))
    with pytest.raises(InvalidInputError, match="labels"):
        harmonic_loss([0, 1, 2], x, x)
    with pytest.raises(InvalidInputError, match="distance"):
        harmonic_loss([0, 1, 2, 3], x, x, distance="L_2")
