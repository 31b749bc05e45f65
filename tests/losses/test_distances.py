"""Pairwise distances against the explicit double loop of tests/reference."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import canonical_distance, pairwise_distances
from tests.reference import triplet_reference as ref


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
@pytest.mark.parametrize("shape", [(1, 3), (7, 2), (16, 128)])
def test_matches_reference(distance, shape):
    x = np.random.default_rng(shape[0]).normal(size=shape).astype(np.float32)
    got = pairwise_distances(tf.constant(x), distance).numpy()
    want = ref.pairwise_distances(x, distance)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    assert np.all(np.diag(got) == 0.0)
    assert np.all(got >= 0.0)


def test_unit_vector_values():
    """Unit vectors e1, e2, -e1: squared L2 = 2 - 2 cos, so 2, 4, 2; L2 = sqrt; angular = 1 - cos."""
    x = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    sq = np.array([[0, 2, 4], [2, 0, 2], [4, 2, 0]], dtype=np.float32)
    np.testing.assert_allclose(pairwise_distances(x, "squared_l2"), sq, atol=1e-6)
    np.testing.assert_allclose(pairwise_distances(x, "l2"), np.sqrt(sq), atol=1e-6)
    np.testing.assert_allclose(pairwise_distances(x, "angular"), sq / 2, atol=1e-6)


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "angular"])
def test_zero_distances_have_finite_gradients(distance):
    """Duplicate rows (distance exactly 0) and a zero vector must not give NaN gradients."""
    x = tf.constant([[0.3, 0.4], [0.3, 0.4], [0.0, 0.0], [1.0, -2.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        d = pairwise_distances(x, distance)
        total = tf.reduce_sum(d * tf.random.stateless_uniform(d.shape, seed=(1, 2)))
    grad = tape.gradient(total, x).numpy()
    assert np.all(np.isfinite(grad))
    assert d.numpy()[0, 1] == 0.0


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("squared-L2", "squared_l2"),
        ("L2", "l2"),
        ("angular", "angular"),
        ("SQUARED_L2", "squared_l2"),
    ],
)
def test_aliases(alias, name):
    assert canonical_distance(alias) == name


@pytest.mark.parametrize("bad", ["L_2", "l1", "", None, 2])
def test_unknown_distance_is_a_typed_error(bad):
    # "L_2" meant *squared* L2 in old TF Addons releases: refused rather than guessed.
    with pytest.raises(InvalidInputError, match="distance"):
        canonical_distance(bad)
