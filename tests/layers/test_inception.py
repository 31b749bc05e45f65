"""The Inception module builder: widths from Table 2, branch wiring and naming."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.layers import InceptionSpec, L2Pooling2D, inception_module


def _params(model: keras.Model, prefix: str) -> int:
    return sum(
        int(np.prod(w.shape))
        for layer in model.layers
        if layer.name.startswith(prefix)
        for w in layer.trainable_weights
        if "bn" not in layer.name
    )


def test_table2_row_3a_widths_and_conv_params():
    # Paper Table 2, inception (3a) on 28x28x192: output 28x28x256, 164K parameters.
    # Hand count of its conv kernels: 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32
    # + 192*32 = 163,328.
    inputs = keras.Input((28, 28, 192))
    spec = InceptionSpec("3a", 64, 96, 128, 16, 32, "max", 32)
    model = keras.Model(inputs, inception_module(inputs, spec))
    assert model.output.shape == (None, 28, 28, 256)
    assert spec.output_channels(192) == 256
    assert _params(model, "inception_3a") == 163_328


def test_reduction_row_3c_passes_pool_through():
    # Table 2, inception (3c) on 28x28x320: 256 + 64 + 320 (pooled input) = 640 at 14x14.
    inputs = keras.Input((28, 28, 320))
    spec = InceptionSpec("3c", 0, 128, 256, 32, 64, "max", 0, strides=2)
    model = keras.Model(inputs, inception_module(inputs, spec))
    assert model.output.shape == (None, 14, 14, 640)
    names = {layer.name for layer in model.layers}
    assert "inception_3c_1x1_conv" not in names
    assert "inception_3c_pool_proj_conv" not in names


def test_l2_pool_branch_uses_l2_pooling():
    inputs = keras.Input((14, 14, 640))
    spec = InceptionSpec("4a", 256, 96, 192, 32, 64, "l2", 128)
    model = keras.Model(inputs, inception_module(inputs, spec))
    assert isinstance(model.get_layer("inception_4a_pool"), L2Pooling2D)
    assert model.output.shape == (None, 14, 14, 640)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pool": "avg"},
        {"strides": 3},
        {"strides": 2},  # a stride-2 module with a 1x1 branch
    ],
)
def test_bad_specs_raise(kwargs):
    base = {
        "name": "x",
        "n1x1": 8,
        "n3x3_reduce": 4,
        "n3x3": 8,
        "n5x5_reduce": 2,
        "n5x5": 4,
        "pool": "max",
        "pool_proj": 4,
    }
    with pytest.raises(ValueError):
        InceptionSpec(**{**base, **kwargs})
