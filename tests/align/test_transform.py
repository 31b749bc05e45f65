"""Similarity-transform math and warps against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.align.templates import ARCFACE_112, get_template
from facenet_tf.align.transform import apply_transform, margin_box_transform, umeyama, warp
from facenet_tf.errors import InvalidInputError

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def test_umeyama_identity():
    np.testing.assert_allclose(umeyama(SQUARE, SQUARE), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_umeyama_translation():
    np.testing.assert_allclose(
        umeyama(SQUARE, SQUARE + [3.0, -2.0]), [[1, 0, 3], [0, 1, -2]], atol=1e-12
    )


def test_umeyama_two_points_rotation_and_scale():
    # (0,0)->(0,0) and (1,0)->(0,2): scale 2, rotation +90 degrees (x axis onto y axis).
    m = umeyama([[0, 0], [1, 0]], [[0, 0], [0, 2]])
    np.testing.assert_allclose(m, [[0, -2, 0], [2, 0, 0]], atol=1e-12)


def test_umeyama_exact_similarity():
    # s = 1.5, theta = 30 degrees, t = (10, -4), written out by hand.
    c, s = np.cos(np.pi / 6) * 1.5, np.sin(np.pi / 6) * 1.5
    want = np.array([[c, -s, 10.0], [s, c, -4.0]])
    src = np.array([[30.0, 50.0], [70.0, 52.0], [50.0, 72.0], [35.0, 90.0], [68.0, 91.0]])
    dst = src @ want[:, :2].T + want[:, 2]
    np.testing.assert_allclose(umeyama(src, dst), want, atol=1e-9)


def test_umeyama_never_reflects():
    # Mirror image of a centred square: cov = diag(-1/4, 1/4), so a proper rotation gains
    # nothing (trace(M R^T) = 0 for every R) and the least-squares scale is exactly 0:
    # every point goes to the centroid (0, 0). A reflection would have fitted perfectly.
    src = SQUARE - 0.5
    np.testing.assert_allclose(umeyama(src, src * [-1.0, 1.0]), np.zeros((2, 3)), atol=1e-12)
    pts = np.random.default_rng(1).normal(size=(5, 2))
    assert np.linalg.det(umeyama(pts, pts * [-1.0, 1.0])[:, :2]) >= 0


def test_umeyama_is_least_squares_against_brute_force():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(5, 2)) * 20 + 50
    dst = src @ np.array([[0.9, -0.3], [0.3, 0.9]]).T + [5, 7] + rng.normal(size=(5, 2))
    m = umeyama(src, dst)
    best = np.sum((apply_transform(m, src) - dst) ** 2)
    a0, b0 = m[0, 0], m[1, 0]
    # Brute force over a grid of (a, b) = (s cos, s sin) around the solution; for each,
    # the optimal translation is the mean residual.
    for da in np.linspace(-0.02, 0.02, 9):
        for db in np.linspace(-0.02, 0.02, 9):
            a, b = a0 + da, b0 + db
            rs = src @ np.array([[a, -b], [b, a]]).T
            t = (dst - rs).mean(0)
            assert np.sum((rs + t - dst) ** 2) >= best - 1e-9


@pytest.mark.parametrize(
    "src,dst",
    [(np.zeros((5, 2)), np.ones((5, 2))), (np.ones((1, 2)), np.ones((1, 2))), (SQUARE, SQUARE[:3])],
)
def test_umeyama_rejects_degenerate_input(src, dst):
    with pytest.raises(InvalidInputError):
        umeyama(src, dst)


def test_margin_box_transform_by_hand():
    # Box 40 wide x 60 tall centred at (30, 50); margin 20 -> side 80; 160 / 80 = 2.
    m = margin_box_transform([10, 20, 50, 80], 160, 20)
    np.testing.assert_allclose(m, [[2, 0, 19.5], [0, 2, -20.5]])
    # The square's outer corner (-10, 10) lands on the crop's outer corner (-0.5, -0.5).
    np.testing.assert_allclose(apply_transform(m, [[-10.0, 10.0]]), [[-0.5, -0.5]])


def test_warp_integer_translation_is_a_slice():
    image = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    m = np.array([[1.0, 0, -7], [0, 1.0, -11]])  # crop origin at image (7, 11)
    np.testing.assert_array_equal(warp(image, m, (20, 30)), image[11:31, 7:37])


def test_warp_outside_is_black():
    image = np.full((10, 10, 3), 200, np.uint8)
    out = warp(image, np.array([[1.0, 0, 5], [0, 1.0, 5]]), 20)
    assert out[:5].max() == 0 and out[:, :5].max() == 0
    assert (out[6:14, 6:14] == 200).all()


@pytest.mark.parametrize("shrink", [3.0, 7.5])
def test_warp_large_reduction_keeps_coordinates(shrink):
    # On a linear ramp, area reduction + bilinear sampling reproduce the ramp exactly (up
    # to rounding): the crop pixel (u, v) must read the ramp at image x = shrink*u + 3.
    h, w = 400, 600
    xs = np.tile(np.arange(w, dtype=np.float64) * 255 / (w - 1), (h, 1))
    image = np.repeat(np.round(xs)[..., None], 3, axis=2).astype(np.uint8)
    m = np.array([[1 / shrink, 0, -3 / shrink], [0, 1 / shrink, 0]])
    out = warp(image, m, (20, 60)).astype(np.float64)
    u = np.arange(60)
    want = (shrink * u + 3) * 255 / (w - 1)
    np.testing.assert_allclose(out[10, :, 0], want, atol=1.5)


def test_template_scaling_keeps_outer_edges():
    t = get_template("mobile_112")
    np.testing.assert_allclose(t.points, ARCFACE_112)
    # (p + 0.5) * 224 / 112 - 0.5, by hand for the first point.
    np.testing.assert_allclose(t.scaled(224)[0], [2 * 38.2946 + 0.5, 2 * 51.6963 + 0.5])
    np.testing.assert_allclose(t.scaled(112), t.points)
