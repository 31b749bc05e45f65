"""Analytic parameter and multiply-add counts for Keras models.

The paper's "FLOPS" columns count multiply-adds (NN1 conv1: 7*7*3*64*110*110 = 114M
against its 115M), so ``count_flops`` does the same for the layers that dominate:
convolutions (regular, depthwise, separable) and dense layers.
"""

from __future__ import annotations

import math

import keras


def _macs(layer: keras.layers.Layer) -> int:
    out_shape = layer.output.shape if hasattr(layer, "output") else None
    if out_shape is None:
        return 0
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return kh * kw * math.prod(out_shape[1:])
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        spatial = out_shape[1] * out_shape[2]
        return spatial * cin * (kh * kw * layer.depth_multiplier + layer.filters)
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1] // layer.groups
        return kh * kw * cin * math.prod(out_shape[1:])
    if isinstance(layer, keras.layers.Dense):
        cin = layer.input.shape[-1]
        return cin * math.prod(out_shape[1:])
    return 0


def _leaf_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def count_flops(model: keras.Model) -> int:
    """Multiply-adds for one image through ``model`` (convolutions and dense layers)."""
    return sum(_macs(layer) for layer in _leaf_layers(model))


def count_params(model: keras.Model) -> int:
    """All weights, trainable and not (the paper counts both)."""
    return int(model.count_params())
