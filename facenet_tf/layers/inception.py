"""The Inception module of GoogLeNet as used by FaceNet's NN2 family (paper Table 2)."""

from __future__ import annotations

import dataclasses

import keras

from facenet_tf.layers.conv_block import conv_bn_act
from facenet_tf.layers.l2_pool import L2Pooling2D

POOL_TYPES = ("max", "l2")


@dataclasses.dataclass(frozen=True)
class InceptionSpec:
    """One row of the paper's Table 2.

    A zero width drops that branch. With ``strides=2`` the module halves the spatial size:
    the 3x3 and 5x5 convolutions and the pooling run with stride 2, and the pooled branch
    is passed through unprojected when ``pool_proj`` is 0 (rows 3c and 4e).

    Attributes:
        name: module name, e.g. ``"3a"``; layer names start with ``inception_{name}_``.
        n1x1: "#1x1" output channels.
        n3x3_reduce: "#3x3 reduce" channels of the 1x1 before the 3x3.
        n3x3: "#3x3" output channels.
        n5x5_reduce: "#5x5 reduce" channels of the 1x1 before the 5x5.
        n5x5: "#5x5" output channels.
        pool: ``"max"`` or ``"l2"`` (3x3 window).
        pool_proj: channels of the 1x1 projection after the pooling (0: none).
        strides: 1, or 2 for a reduction module.
    """

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool: str
    pool_proj: int
    strides: int = 1

    def __post_init__(self):
        if self.pool not in POOL_TYPES:
            raise ValueError(f"inception {self.name}: pool must be one of {POOL_TYPES}")
        if self.strides not in (1, 2):
            raise ValueError(f"inception {self.name}: strides must be 1 or 2")
        if self.strides == 2 and self.n1x1:
            raise ValueError(f"inception {self.name}: a stride-2 module has no 1x1 branch")

    def output_channels(self, input_channels: int) -> int:
        """Channels of the concatenated output for an input of ``input_channels``."""
        pool = self.pool_proj or input_channels
        return self.n1x1 + self.n3x3 + self.n5x5 + pool


def inception_module(x, spec: InceptionSpec):
    """Appends one Inception module; branches run in parallel and are concatenated.

    Every convolution is ``conv_bn_act`` (conv -> batch norm -> ReLU). Layer names:
    ``inception_{name}_1x1``, ``..._3x3_reduce``, ``..._3x3``, ``..._5x5_reduce``,
    ``..._5x5``, ``..._pool``, ``..._pool_proj`` (each with ``_conv``/``_bn``/``_relu``
    suffixes) and ``..._concat``.

    Args:
        x: float [N, H, W, C] symbolic tensor.
        spec: the module's widths.

    Returns:
        float [N, H / strides, W / strides, spec.output_channels(C)] symbolic tensor.
    """
    prefix = f"inception_{spec.name}"
    s = spec.strides
    branches = []
    if spec.n1x1:
        branches.append(conv_bn_act(x, spec.n1x1, 1, name=f"{prefix}_1x1"))
    if spec.n3x3:
        y = conv_bn_act(x, spec.n3x3_reduce, 1, name=f"{prefix}_3x3_reduce")
        branches.append(conv_bn_act(y, spec.n3x3, 3, strides=s, name=f"{prefix}_3x3"))
    if spec.n5x5:
        y = conv_bn_act(x, spec.n5x5_reduce, 1, name=f"{prefix}_5x5_reduce")
        branches.append(conv_bn_act(y, spec.n5x5, 5, strides=s, name=f"{prefix}_5x5"))
    if spec.pool == "max":
        y = keras.layers.MaxPooling2D(3, strides=s, padding="same", name=f"{prefix}_pool")(x)
    else:
        y = L2Pooling2D(3, strides=s, padding="same", name=f"{prefix}_pool")(x)
    if spec.pool_proj:
        y = conv_bn_act(y, spec.pool_proj, 1, name=f"{prefix}_pool_proj")
    branches.append(y)
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}_concat")(branches)
