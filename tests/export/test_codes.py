"""int8 codes of unit vectors: hand-derived values, bounds and the in-graph twin."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.export import codes


@pytest.mark.parametrize(
    "dim,expected_range", [(1, 1.0), (8, 1.0), (32, 1.0), (128, 0.5), (512, 0.25)]
)
def test_code_range_hand_values(dim, expected_range):
    assert codes.code_range(dim) == pytest.approx(expected_range)
    assert codes.code_scale(dim) == pytest.approx(127 / expected_range)


def test_quantize_hand_values_full_range():
    # D = 8: range 1, scale 127. 0.5 * 127 = 63.5 rounds half to even -> 64.
    x = np.array([[1.0, -1.0, 0.5, 0.0, 2.0, -3.0, 1.0 / 127, 0.5 / 127]], np.float32)
    expected = np.array([[127, -127, 64, 0, 127, -127, 1, 0]], np.int8)
    np.testing.assert_array_equal(codes.quantize(x), expected)
    assert codes.quantize(x).dtype == np.int8


def test_quantize_hand_values_d128():
    # D = 128: range 0.5, scale 254; beyond +-0.5 saturates at +-127.
    x = np.zeros((1, 128), np.float32)
    x[0, :6] = [0.5, -0.7, 0.25, 1 / 254, 0.1, -0.372]
    got = codes.quantize(x)[0, :6]
    # 0.25 * 254 = 63.5 -> 64 (half to even); 0.1 * 254 = 25.4 -> 25; 0.372 * 254 = 94.488 -> 94.
    np.testing.assert_array_equal(got, [127, -127, 64, 1, 25, -94])
    np.testing.assert_allclose(codes.dequantize(codes.quantize(x))[0, :3], [0.5, -0.5, 64 / 254])


@pytest.mark.parametrize("dim", [2, 128, 512])
def test_round_trip_error_bound_on_unit_vectors(dim):
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(200, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    inside = np.abs(x) <= codes.code_range(dim)
    err = np.abs(codes.dequantize(codes.quantize(x)) - x)
    assert err[inside].max() <= 0.5 / codes.code_scale(dim) + 1e-6
    # Gaussian-like components never reach 5.7 RMS in 200 x D draws.
    assert inside.all()
    assert codes.quantize(x).nbytes == 200 * dim  # 128 bytes per face for D = 128


def test_tf_and_numpy_codes_agree():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.6, 0.6, size=(64, 128)).astype(np.float32)
    x[0, :4] = [0.5 / 254, 1.5 / 254, -2.5 / 254, 63.5 / 254]  # exact halves
    np.testing.assert_array_equal(codes.quantize_tf(tf.constant(x)).numpy(), codes.quantize(x))
