"""TensorFlow pairwise distances against the explicit loops of tests/reference."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.distances import DISTANCES
from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import pairwise_distances
from facenet_tf.losses.distances import _equal_rows
from tests.reference import distances_reference as ref

EPS32 = float(np.finfo(np.float32).eps)


def _squared_tolerance(x: np.ndarray) -> np.ndarray:
    """[B, B] bound on the float32 error of |x_i|^2 + |x_j|^2 - 2 <x_i, x_j>.

    Each of the three terms is a D-term float32 sum of products of size up to the squared
    norms; rounding errors of such sums grow like sqrt(D) (random walk) in every summation
    order a kernel may pick, so 4 eps sqrt(D) (|x_i|^2 + |x_j|^2) covers all of them with
    margin, and no more than that.
    """
    squared = np.sum(x.astype(np.float64) ** 2, axis=1)
    return 4 * EPS32 * np.sqrt(x.shape[1]) * (squared[:, None] + squared[None, :])


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("shape", [(1, 3), (7, 2), (16, 128)])
def test_matches_reference(distance, shape):
    x = np.random.default_rng(shape[0]).normal(size=shape).astype(np.float32)
    got = pairwise_distances(tf.constant(x), distance).numpy().astype(np.float64)
    want = ref.pairwise(x, x, distance)
    assert np.all(np.diag(got) == 0.0)
    assert np.all(got >= 0.0)
    if distance == "cosine":  # rows normalised first: magnitudes 1
        tol = _squared_tolerance(x / np.linalg.norm(x, axis=1, keepdims=True)) / 2
    else:
        tol = _squared_tolerance(x)
    if distance == "euclidean":  # compare squares: the square root is not the error source
        got, want = got**2, want**2
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) / tol)


def test_unit_vector_values():
    """Unit vectors e1, e2, -e1: squared L2 = 2 - 2 cos, so 2, 4, 2; L2 = sqrt; angular = 1 - cos."""
    x = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    sq = np.array([[0, 2, 4], [2, 0, 2], [4, 2, 0]], dtype=np.float32)
    np.testing.assert_allclose(pairwise_distances(x, "squared_l2"), sq, atol=1e-6)
    np.testing.assert_allclose(pairwise_distances(x, "l2"), np.sqrt(sq), atol=1e-6)
    np.testing.assert_allclose(pairwise_distances(x, "angular"), sq / 2, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("distance", DISTANCES)
def test_equal_rows_give_exactly_zero(distance, dtype):
    """Distances that are 0 in exact arithmetic are 0, not rounding noise (which the square
    root of "euclidean" would amplify to ~3e-4 and which differs with oneDNN on and off)."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(3, 128)) * np.array([[1.0], [1e3], [1e-3]])
    x = base[[0, 1, 0, 2, 1, 2, 0]].astype(dtype)  # duplicates far apart in the batch
    d = pairwise_distances(tf.constant(x), distance).numpy()
    same = (x[:, None, :] == x[None, :, :]).all(-1)
    assert np.all(d[same] == 0.0)
    assert np.all(d[~same] > 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equal_rows_is_exact(dtype):
    """Equal rows are found; a row differing from another in one bit anywhere is not."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 6)).astype(dtype)
    rows = [x[0], x[1], x[0].copy(), x[2], x[3], x[1].copy()]
    for k in range(x.shape[1]):  # one ulp up and down in each coordinate of row 0
        for direction in (np.inf, -np.inf):
            r = x[0].copy()
            r[k] = np.nextafter(r[k], dtype(direction))
            rows.append(r)
    neg_zero = np.zeros(6, dtype)
    neg_zero[3] = -0.0
    rows += [np.zeros(6, dtype), neg_zero]  # different bits: not "bitwise equal"
    batch = np.stack(rows)
    got = _equal_rows(tf.constant(batch)).numpy()
    bits = batch.view(np.uint32 if dtype == np.float32 else np.uint64)
    want = (bits[:, None, :] == bits[None, :, :]).all(-1)
    np.testing.assert_array_equal(got, want)
    assert got[0, 2] and got[1, 5] and not got[0, 6]


@pytest.mark.parametrize("distance", DISTANCES)
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


def test_zero_rows_follow_tf_addons_for_cosine():
    """A zero row has cosine 0 with every other row (distance 1), itself included off the
    diagonal: it does not normalise to unit length, so "equal rows give 0" does not apply."""
    x = tf.constant([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(
        pairwise_distances(x, "cosine").numpy(), [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    )


def test_graph_mode_and_unknown_batch_size():
    fn = tf.function(
        lambda x: pairwise_distances(x, "euclidean"),
        input_signature=[tf.TensorSpec([None, 4], tf.float32)],
    )
    x = np.repeat(np.random.default_rng(7).normal(size=(2, 4)), 2, axis=0).astype(np.float32)
    d = fn(tf.constant(x)).numpy()
    assert d[0, 1] == 0.0 and d[2, 3] == 0.0 and d[0, 2] > 0.0


@pytest.mark.parametrize("distance", DISTANCES)
def test_compiles_with_xla(distance):
    """Training may compile the loss (--xla, TPUs): the equal-row test must compile too."""
    x = np.repeat(np.random.default_rng(8).normal(size=(3, 8)), 2, axis=0).astype(np.float32)
    fn = tf.function(pairwise_distances, jit_compile=True, autograph=False)
    got = fn(tf.constant(x), distance).numpy()
    eager = pairwise_distances(tf.constant(x), distance).numpy()
    assert np.all(np.abs(got - eager) <= _squared_tolerance(x))  # XLA rounds differently
    assert got[0, 1] == 0.0 and got[2, 3] == 0.0 and got[4, 5] == 0.0


@pytest.mark.parametrize("bad", ["L_2", "l1", "", None, 2])
def test_unknown_distance_is_a_typed_error(bad):
    # "L_2" meant *squared* L2 in old TF Addons releases: refused rather than guessed.
    with pytest.raises(InvalidInputError, match="distance"):
        pairwise_distances(tf.zeros((2, 3)), bad)
