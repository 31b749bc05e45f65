"""LocalResponseNormalization against a brute-force numpy loop, config and .keras I/O."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from facenet_tf.layers import LocalResponseNormalization
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
