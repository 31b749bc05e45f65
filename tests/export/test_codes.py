"""int8 codes of unit vectors: hand-derived values, bounds and the in-graph twin."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from export import codes


def test_quantize_hand_values():
    x = np.array([[1.0, -1.0, 0.5, 0.0, 2.0, -3.0, 1.0 / 127, 0.5 / 127]], np.float32)
    # 0.5 * 127 = 63.5 rounds half to even -> 64; 0.5/127 * 127 = 0.5 -> 0; clipped beyond +-1.
    expected = np.array([[127, -127, 64, 0, 127, -127, 1, 0]], np.int8)
    np.testing.assert_array_equal(codes.quantize(x), expected)
    assert codes.quantize(x).dtype == np.int8


def test_dequantize_hand_values():
    np.testing.assert_allclose(
        codes.dequantize(np.array([[127, -127, 0, 1]], np.int8)), [[1.0, -1.0, 0.0, 1 / 127]]
    )


@pytest.mark.parametrize("dim", [2, 128, 512])
def test_round_trip_error_bound_on_unit_vectors(dim):
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(200, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    err = np.abs(codes.dequantize(codes.quantize(x)) - x)
    assert err.max() <= 0.5 / 127 + 1e-6
    # 128 bytes per face for D = 128.
    assert codes.quantize(x).nbytes == 200 * dim


def test_tf_and_numpy_codes_agree():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, size=(64, 128)).astype(np.float32)
    x[0, :4] = [0.5 / 127, 1.5 / 127, -2.5 / 127, 63.5 / 127]  # exact halves
    np.testing.assert_array_equal(codes.quantize_tf(tf.constant(x)).numpy(), codes.quantize(x))
