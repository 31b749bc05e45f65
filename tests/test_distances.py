"""facenet_tf.distances against the brute-force loops of tests/reference (float64)."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

import facenet_tf
from facenet_tf import distances as D
from facenet_tf.errors import InvalidInputError
from tests.reference import distances_reference as ref

EPS64 = float(np.finfo(np.float64).eps)


def _tolerance(a: np.ndarray, b: np.ndarray, name: str, normalize: bool) -> np.ndarray:
    """[N, M] bound on the float64 rounding of the Gram expansion: its D-term sums err by
    about eps sqrt(D) times the squared norms (4x headroom); cosine is on unit rows, half
    the squared L2 scale."""
    if normalize or name == "cosine":
        a, b = np.stack([ref.unit(r) for r in a]), np.stack([ref.unit(r) for r in b])
    sa, sb = np.sum(np.square(a, dtype=np.float64), 1), np.sum(np.square(b, dtype=np.float64), 1)
    tol = 4 * EPS64 * np.sqrt(a.shape[1]) * (sa[:, None] + sb[None, :])
    return tol / 2 if name == "cosine" else tol


def _rows(seed: int, n: int, d: int, dtype=np.float64, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale).astype(dtype)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", D.DISTANCES)
@pytest.mark.parametrize(("n", "m", "d", "dtype", "scale"), [
    (1, 1, 3, np.float64, 1.0),
    (5, 7, 2, np.float32, 1.0),
    (9, 4, 128, np.float64, 30.0),
    (6, 6, 16, np.float32, 1e-3),
])  # fmt: skip
def test_pairwise_matches_loops(name, normalize, n, m, d, dtype, scale):
    a, b = _rows(n, n, d, dtype, scale), _rows(n + 100, m, d, dtype, scale)
    got = D.pairwise_distances(a, b, name, normalize=normalize)
    want = ref.pairwise(a, b, name, normalize)
    assert got.shape == (n, m) and got.dtype == np.float64 and np.all(got >= 0.0)
    tol = _tolerance(a, b, name, normalize)
    if name == "euclidean":  # the square root is exact to rounding; the sum is not
        got, want = got**2, want**2
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) / tol)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", D.DISTANCES)
def test_pair_distances_match_loops_and_the_matrix_diagonal(name, normalize):
    a, b = _rows(1, 12, 8, scale=3.0), _rows(2, 12, 8, scale=3.0)
    got = D.pair_distances(a, b, name, normalize=normalize)
    want = np.array([ref.distance(u, v, name, normalize) for u, v in zip(a, b, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    matrix = D.pairwise_distances(a, b, name, normalize=normalize)
    np.testing.assert_allclose(np.diag(matrix), got, rtol=1e-12, atol=1e-12)


def test_convention_normalises_squared_l2_and_cosine_not_euclidean():
    a, b = _rows(3, 4, 5, scale=7.0), _rows(4, 6, 5, scale=7.0)
    for name, normalize in (("squared_l2", True), ("cosine", True), ("euclidean", False)):
        np.testing.assert_array_equal(
            D.pairwise_distances(a, b, name),
            D.pairwise_distances(a, b, name, normalize=normalize),
        )
        np.testing.assert_array_equal(
            D.pair_distances(a, b[:4], name), D.pair_distances(a, b[:4], name, normalize=normalize)
        )
    # On unit rows squared L2 is 2 - 2 cos and 2 * cosine.
    np.testing.assert_allclose(
        D.pairwise_distances(a, b), 2 * D.pairwise_distances(a, b, "cosine"), atol=1e-14
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", D.DISTANCES)
def test_equal_rows_give_exactly_zero(name, normalize, dtype):
    base = _rows(5, 4, 64, dtype) * np.array([[1.0], [1e3], [1e-3], [7.0]], dtype)
    a, b = base[[0, 1, 2, 3, 0]], base[[3, 2, 1, 0, 1, 2]]
    d = D.pairwise_distances(a, b, name, normalize=normalize)
    same = (a[:, None, :] == b[None, :, :]).all(-1)
    assert same.sum() == 7
    assert np.all(d[same] == 0.0) and np.all(d[~same] > 0.0)
    assert np.all(D.pair_distances(a[:4], a[:4], name, normalize=normalize) == 0.0)


def test_signed_zeros_are_equal_and_zero_rows_have_cosine_zero():
    a = np.array([[0.0, 1.0], [0.0, 0.0]])
    b = np.array([[-0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(D.pairwise_distances(a, b), [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(D.pairwise_distances(a, b, "cosine"), [[0, 1], [1, 1]])
    np.testing.assert_array_equal(D.pair_distances(a, b, "cosine"), [0.0, 1.0])


def test_nan_rows_give_nan_only_where_they_are():
    a = np.array([[np.nan, 1.0], [1.0, 0.0]])
    for name in D.DISTANCES:
        d = D.pairwise_distances(a, a, name)
        assert np.isnan(d[0]).all() and np.isnan(d[:, 0]).all() and d[1, 1] == 0.0
        p = D.pair_distances(a, a, name)
        assert np.isnan(p[0]) and p[1] == 0.0
    got = facenet_tf.distance(a.astype(np.float32), np.ones((2, 2), np.float32))
    assert np.isnan(got[0]) and got[1] == 1.0 and got.dtype == np.float32


def test_public_distance_is_raw_squared_l2_with_broadcasting():
    a, b = _rows(6, 3, 4, scale=5.0), _rows(7, 1, 4, scale=5.0)
    want = ref.pairwise(a, b, "squared_l2")[:, 0]
    np.testing.assert_allclose(facenet_tf.distance(a, b[0]), want, rtol=1e-6)
    assert np.ndim(facenet_tf.distance(a[0], b[0])) == 0
    assert facenet_tf.distance is D.distance


def test_l2_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-8, 0.0]])
    np.testing.assert_allclose(D.l2_normalize(x), [[0.6, 0.8], [0, 0], [1e-2, 0]])
    assert D.l2_normalize(np.ones((2, 3, 4), np.float32)).shape == (2, 3, 4)
    np.testing.assert_allclose(np.linalg.norm(D.l2_normalize(_rows(8, 5, 7)), axis=1), 1.0)


@pytest.mark.parametrize(("alias", "name"), [
    ("squared_l2", "squared_l2"),
    ("squared-L2", "squared_l2"),
    ("SQUARED_L2", "squared_l2"),
    ("sq_l2", "squared_l2"),
    ("euclidean", "euclidean"),
    ("l2", "euclidean"),
    ("L2", "euclidean"),
    ("cosine", "cosine"),
    ("angular", "cosine"),
])  # fmt: skip
def test_aliases(alias, name):
    assert D.canonical_distance(alias) == name
    a, b = _rows(9, 3, 4), _rows(10, 2, 4)
    np.testing.assert_array_equal(
        D.pairwise_distances(a, b, alias), D.pairwise_distances(a, b, name)
    )


def test_one_table():
    assert set(D.ALIASES.values()) == set(D.DISTANCES)
    assert set(D.DISTANCES) <= set(D.DISTANCE_NAMES) == set(D.ALIASES)
    assert all(n == n.lower() for n in D.DISTANCE_NAMES)
    assert D.PAPER_THRESHOLD == 1.242
    with pytest.raises(TypeError):
        D.ALIASES["manhattan"] = "l1"  # read-only


def test_module_does_not_import_tensorflow():
    tree = ast.parse(inspect.getsource(D))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m.split(".")[0] in ("tensorflow", "keras")}


@pytest.mark.parametrize("bad", ["L_2", "l1", "manhattan", "", None, 2])
def test_unknown_distance_names_the_argument(bad):
    # "L_2" meant *squared* L2 in old TF Addons releases: refused rather than guessed.
    with pytest.raises(InvalidInputError, match="^distance"):
        D.canonical_distance(bad)
    with pytest.raises(InvalidInputError, match="^distance"):
        D.pairwise_distances(np.ones((1, 2)), np.ones((1, 2)), bad)


def test_bad_arrays_name_the_argument():
    ok = np.ones((3, 4))
    for fn in (D.pairwise_distances, D.pair_distances):
        with pytest.raises(InvalidInputError, match="^a: "):
            fn(np.ones(4), ok)
        with pytest.raises(InvalidInputError, match="^a: "):
            fn([["x", "y"]], ok)
        with pytest.raises(InvalidInputError, match="^b: "):
            fn(ok, np.ones((3, 0)))
        with pytest.raises(InvalidInputError, match="^b: embedding size 5"):
            fn(ok, np.ones((3, 5)))
    with pytest.raises(InvalidInputError, match="^b: 2 rows for 3"):
        D.pair_distances(ok, np.ones((2, 4)))
    with pytest.raises(InvalidInputError, match="sizes differ"):
        facenet_tf.distance(ok, np.ones((3, 5)))
