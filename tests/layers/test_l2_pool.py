"""L2Pooling2D against a brute-force numpy loop, plus gradients, config, .keras I/O and a
full-integer TFLite conversion."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.export import litert
from facenet_tf.layers import L2Pooling2D
from tests.layers.int8_layer import convert_and_compare
from tests.reference.layers_reference import l2_pool


@pytest.mark.parametrize(
    ("shape", "pool", "strides", "padding"),
    [
        ((2, 7, 7, 3), 3, 1, "same"),
        ((2, 7, 6, 2), 3, 2, "same"),
        ((1, 8, 8, 4), 3, 2, "same"),
        ((2, 9, 7, 2), (3, 2), (2, 1), "valid"),
    ],
)
def test_matches_bruteforce(shape, pool, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    layer = L2Pooling2D(pool, strides, padding)
    got = keras.ops.convert_to_numpy(layer(x))
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    want = l2_pool(x, pair(pool), pair(strides), padding, layer.epsilon)
    assert got.shape == want.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_hand_value_corner_window():
    # A single 1 at the top-left corner: every "same" window that covers it outputs 1,
    # windows that do not cover it output sqrt(eps) (zero-safe), here 1e-6.
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = 1.0
    got = keras.ops.convert_to_numpy(L2Pooling2D(3, 1, "same")(x))[0, :, :, 0]
    want = np.full((4, 4), 1e-6, np.float32)
    want[:2, :2] = 1.0
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_zero_input_has_finite_zero_gradient():
    x = tf.zeros((2, 5, 5, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(L2Pooling2D()(x))
    grad = tape.gradient(loss, x)
    assert np.all(np.isfinite(grad.numpy()))
    np.testing.assert_array_equal(grad.numpy(), 0.0)


def test_gradient_matches_analytic():
    # d/dx sqrt(sum x^2) = x / norm: for a 1x1 map with a 3x3 "same" window, the window
    # holds just x itself, so the gradient of sum(y) is sign(x).
    x = tf.constant([[[[2.0, -3.0]]]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = L2Pooling2D()(x)
        loss = tf.reduce_sum(y)
    np.testing.assert_allclose(y.numpy(), np.abs(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [[[[1.0, -1.0]]]], rtol=1e-6)


def test_float16_input_stays_finite():
    layer = L2Pooling2D(dtype="mixed_float16")
    y = layer(tf.zeros((1, 3, 3, 2), tf.float16))
    assert y.dtype == tf.float16
    assert np.all(np.isfinite(y.numpy()))


def test_config_has_every_init_arg_and_round_trips():
    layer = L2Pooling2D(pool_size=(3, 2), strides=2, padding="valid", epsilon=1e-9)
    config = layer.get_config()
    for arg in inspect.signature(L2Pooling2D.__init__).parameters:
        if arg not in ("self", "kwargs"):
            assert arg in config
    clone = L2Pooling2D.from_config(config)
    assert (clone.pool_size, clone.strides, clone.padding, clone.epsilon) == (
        (3, 2),
        (2, 2),
        "valid",
        1e-9,
    )


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, L2Pooling2D(3, 2, name="pool")(inputs))
    path = tmp_path / "l2.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
    assert isinstance(loaded.get_layer("pool"), L2Pooling2D)


@pytest.mark.parametrize(
    "kwargs", [{"padding": "full"}, {"epsilon": 0.0}, {"pool_size": 0}, {"strides": (1, 2, 3)}]
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        L2Pooling2D(**kwargs)


def test_unknown_spatial_size_matches_bruteforce():
    # Fully convolutional use: the "same" padding is computed from the dynamic shape.
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, L2Pooling2D(3, 2)(inputs))
    x = np.random.default_rng(2).normal(size=(1, 5, 8, 2)).astype(np.float32)
    got = tf.function(model)(tf.constant(x)).numpy()
    np.testing.assert_allclose(got, l2_pool(x, (3, 3), (2, 2), "same", 1e-12), rtol=1e-5)


def test_full_integer_tflite_is_int8_and_accurate():
    # Heavy-tailed activations: squaring them into an int8 tensor would zero most
    # windows; the fused L2_NORMALIZATION keeps the sum of squares in int32.
    shape = (1, 8, 8, 16)
    layer = L2Pooling2D(3, 2)
    rng = np.random.default_rng(3)
    data = np.maximum(rng.normal(size=(16, *shape[1:])), 0) * np.exp(rng.normal(size=shape[1:]))
    data = data.astype(np.float32)

    flatbuffer = convert_and_compare(layer, data)
    assert "L2_NORMALIZATION" in {op["op"] for op in litert.op_report(flatbuffer)}
