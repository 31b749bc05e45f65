"""Hypothesis properties: non-negative, invariant to batch order and to label renaming."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facenet_tf.losses import (
    triplet_batch_all_loss,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
)
from tests.losses._batches import float32_atol

LOSSES = {
    "semihard": triplet_semihard_loss,
    "hard": triplet_batch_hard_loss,
    "hard_soft": lambda y, x, **kw: triplet_batch_hard_loss(y, x, soft=True, **kw),
    "all": triplet_batch_all_loss,
}


@st.composite
def batches(draw):
    """(labels, embeddings, margin, distance, loss name, permutation seed)."""
    b = draw(st.integers(1, 14))
    d = draw(st.integers(2, 6))
    k = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, b).astype(np.int32)
    # Raw or unit rows, sometimes a duplicated row to reach zero distances. The duplicate
    # keeps its label: across labels it would make a positive and a negative exactly
    # equidistant from every anchor, a tie that "strictly farther" breaks by rounding,
    # which depends on the rows' positions in the matmul.
    x = rng.normal(size=(b, d))
    if draw(st.booleans()):
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    if b > 2 and draw(st.booleans()):
        x[1], labels[1] = x[0], labels[0]
    margin = draw(st.floats(0.0, 2.0))
    distance = draw(st.sampled_from(["squared_l2", "l2", "angular"]))
    name = draw(st.sampled_from(sorted(LOSSES)))
    return labels, x.astype(np.float32), margin, distance, name, seed


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _loss(name, labels, x, margin, distance) -> float:
    return float(LOSSES[name](labels, x, margin=margin, distance=distance).numpy())


@SETTINGS
@given(batches())
def test_loss_is_non_negative_and_finite(batch):
    labels, x, margin, distance, name, _ = batch
    value = _loss(name, labels, x, margin, distance)
    assert np.isfinite(value) and value >= 0.0


@SETTINGS
@given(batches())
def test_invariant_to_permuting_the_batch(batch):
    labels, x, margin, distance, name, seed = batch
    perm = np.random.default_rng(seed + 1).permutation(len(labels))
    a = _loss(name, labels, x, margin, distance)
    b = _loss(name, labels[perm], x[perm], margin, distance)
    # Permuting changes every summation order: float32 rounding, bounded by float32_atol.
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=float32_atol(x, distance))


@SETTINGS
@given(batches(), st.integers(-(2**40), 2**40))
def test_invariant_to_renaming_labels(batch, offset):
    """Any injective relabelling (here into int64 ids far outside int32) gives the same loss."""
    labels, x, margin, distance, name, seed = batch
    ids = np.random.default_rng(seed + 2).permutation(10).astype(np.int64) * 7919 + offset
    renamed = ids[labels]
    a = _loss(name, labels, x, margin, distance)
    b = _loss(name, renamed, x, margin, distance)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
