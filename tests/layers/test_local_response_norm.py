"""LocalResponseNormalization against a brute-force numpy loop and TensorFlow's LRN op,
gradients, config, .keras I/O and a full-integer TFLite conversion."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.layers import LocalResponseNormalization
from tests.layers.int8_layer import convert_and_compare
from tests.reference.layers_reference import local_response_norm


@pytest.mark.parametrize(
    ("depth_radius", "bias", "alpha", "beta"),
    [(2, 1.0, 2e-5, 0.75), (1, 2.0, 0.5, 0.5), (0, 1.0, 1.0, 1.0), (3, 0.5, 0.1, 0.75)],
)
def test_matches_bruteforce(depth_radius, bias, alpha, beta):
    x = np.random.default_rng(0).normal(scale=2.0, size=(2, 3, 2, 7)).astype(np.float32)
    layer = LocalResponseNormalization(depth_radius, bias, alpha, beta)
    got = keras.ops.convert_to_numpy(layer(x))
    want = local_response_norm(x, depth_radius, bias, alpha, beta)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("channels", "depth_radius"), [(7, 2), (3, 5), (64, 2), (1, 0)])
def test_matches_tensorflow_op(channels, depth_radius):
    # Window wider than the channel axis included: both clip it at the borders.
    x = np.random.default_rng(3).normal(scale=5.0, size=(2, 4, 3, channels)).astype(np.float32)
    kwargs = {"depth_radius": depth_radius, "bias": 1.5, "alpha": 0.01, "beta": 0.75}
    got = keras.ops.convert_to_numpy(LocalResponseNormalization(**kwargs)(x))
    want = tf.nn.local_response_normalization(x, **kwargs).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradient_matches_tensorflow_op_and_is_finite():
    x = tf.constant(np.random.default_rng(4).normal(scale=3.0, size=(2, 3, 3, 8)), tf.float32)
    x = tf.concat([x, tf.zeros((1, 3, 3, 8))], axis=0)  # all-zero windows too
    kwargs = {"depth_radius": 2, "bias": 1.0, "alpha": 0.05, "beta": 0.75}
    grads = []
    for fn in (LocalResponseNormalization(**kwargs), lambda t: tf.nn.lrn(t, **kwargs)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(fn(x)))
        grads.append(tape.gradient(loss, x).numpy())
    assert np.all(np.isfinite(grads[0]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_has_no_weights():
    # The channel window is fixed arithmetic, not a kernel: nothing to save or count.
    inputs = keras.Input((5, 5, 32))
    model = keras.Model(inputs, LocalResponseNormalization()(inputs))
    assert model.count_params() == 0
    assert model.weights == []


def test_float16_input_stays_finite():
    layer = LocalResponseNormalization(alpha=0.1, dtype="mixed_float16")
    x = np.random.default_rng(5).normal(scale=50.0, size=(1, 3, 3, 6)).astype(np.float16)
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


def test_full_integer_tflite_has_no_float_ops():
    # TFLite's LOCAL_RESPONSE_NORMALIZATION and POW kernels are float-only; the layer's
    # ops all have int8 kernels, so a full-integer conversion keeps no float island.
    shape = (1, 6, 6, 24)
    layer = LocalResponseNormalization(alpha=1e-3)
    rng = np.random.default_rng(6)
    data = np.maximum(rng.normal(scale=4.0, size=(16, *shape[1:])), 0).astype(np.float32)

    convert_and_compare(layer, data)


def test_hand_value():
    # One channel, r=0: x / (1 + 1 * x^2) ** 1 = 2 / 5 for x = 2.
    got = LocalResponseNormalization(0, 1.0, 1.0, 1.0)(np.full((1, 1, 1, 1), 2.0, np.float32))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), [[[[0.4]]]], rtol=1e-6)


def test_config_has_every_init_arg_and_round_trips(tmp_path):
    layer = LocalResponseNormalization(depth_radius=3, bias=2.0, alpha=0.25, beta=0.5)
    config = layer.get_config()
    for arg in inspect.signature(LocalResponseNormalization.__init__).parameters:
        if arg not in ("self", "kwargs"):
            assert arg in config
    clone = LocalResponseNormalization.from_config(config)
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta) == (3, 2.0, 0.25, 0.5)

    inputs = keras.Input((3, 3, 6))
    model = keras.Model(inputs, LocalResponseNormalization(name="lrn", alpha=0.3)(inputs))
    path = tmp_path / "lrn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 6)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
    assert loaded.get_layer("lrn").alpha == 0.3


@pytest.mark.parametrize("kwargs", [{"depth_radius": -1}, {"bias": 0.0}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        LocalResponseNormalization(**kwargs)
