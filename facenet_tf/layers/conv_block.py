"""Convolution -> batch normalisation -> activation, the unit every CNN family repeats."""

from __future__ import annotations

import keras


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int | tuple[int, int],
    *,
    name: str,
    strides: int | tuple[int, int] = 1,
    padding: str = "same",
    activation: str | None = "relu",
    bn_scale: bool = True,
    bn_epsilon: float = 1e-3,
    bn_momentum: float = 0.99,
):
    """Appends ``{name}_conv`` (no bias), ``{name}_bn`` and ``{name}_{activation}``.

    The convolution has no bias because the batch normalisation right after it has its
    own offset (beta).

    Args:
        x: float [N, H, W, C] symbolic tensor.
        filters: output channels.
        kernel_size: kernel (height, width), or one int for both.
        name: layer-name prefix; names are stable so that weight converters can map them.
        strides: convolution stride.
        padding: ``"same"`` or ``"valid"``.
        activation: a Keras activation name, or None for a linear block.
        bn_scale: whether batch normalisation learns a scale (gamma); TF-slim models
            (e.g. davidsandberg/facenet's Inception-ResNet-v1) use none.
        bn_epsilon: batch normalisation epsilon.
        bn_momentum: moving-average momentum of batch normalisation.

    Returns:
        float [N, H', W', filters] symbolic tensor.
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        epsilon=bn_epsilon, momentum=bn_momentum, scale=bn_scale, name=f"{name}_bn"
    )(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x
