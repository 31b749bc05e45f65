"""Maxout against a brute-force numpy loop, config and .keras I/O."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from facenet_tf.layers import Maxout
from tests.reference.layers_reference import maxout


@pytest.mark.parametrize(("shape", "pieces"), [((3, 8), 2), ((2, 3, 9), 3), ((4, 5), 1)])
def test_matches_bruteforce(shape, pieces):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    layer = Maxout(pieces)
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(got, maxout(x, pieces))


def test_hand_value_groups_are_consecutive():
    x = np.array([[1.0, 5.0, -2.0, -3.0]], np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(Maxout(2)(x)), [[5.0, -2.0]])


def test_indivisible_width_raises():
    with pytest.raises(ValueError, match="num_pieces"):
        Maxout(2)(np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError):
        Maxout(0)


def test_config_has_every_init_arg_and_round_trips(tmp_path):
    config = Maxout(3).get_config()
    for arg in inspect.signature(Maxout.__init__).parameters:
        if arg not in ("self", "kwargs"):
            assert arg in config
    assert Maxout.from_config(config).num_pieces == 3

    inputs = keras.Input((12,))
    model = keras.Model(inputs, Maxout(3, name="maxout")(inputs))
    path = tmp_path / "maxout.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(2, 12)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))
