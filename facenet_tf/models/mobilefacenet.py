"""MobileFaceNet (Chen et al., 2018): a phone-sized face embedder at 112x112.

"MobileFaceNets: Efficient CNNs for Accurate Real-Time Face Verification on Mobile
Devices" (arXiv:1804.07573), Table 1: MobileNetV2-style inverted residual bottlenecks
with PReLU, and a global depthwise convolution (GDConv) head instead of global average
pooling, so that the network can weight the face's regions differently.
"""

from __future__ import annotations

import keras

from facenet_tf.layers import PixelNormalization
from facenet_tf.models.heads import embedding_head
from facenet_tf.models.registry import register_model, require_untrained

INPUT_SIZE = (112, 112)

# Table 1 of the MobileFaceNet paper: (expansion t, output channels c, repeats n, stride s).
_BOTTLENECKS = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)


def _bn(x, name: str):
    return keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)


def _prelu(x, name: str):
    # Per-channel slopes shared over space; PyTorch's initial slope 0.25 (Keras' is 0).
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25),
        shared_axes=[1, 2],
        name=f"{name}_prelu",
    )(x)


def _conv(x, filters: int, kernel: int, name: str, strides: int = 1, activation: bool = True):
    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = _bn(x, name)
    return _prelu(x, name) if activation else x


def _depthwise(x, kernel: int, name: str, strides: int = 1, padding="same", activation=True):
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = _bn(x, name)
    return _prelu(x, name) if activation else x


def _bottleneck(x, expansion: int, filters: int, strides: int, name: str):
    """Inverted residual: 1x1 expand -> 3x3 depthwise -> linear 1x1 project (+ skip)."""
    shortcut = x
    y = _conv(x, expansion * x.shape[-1], 1, f"{name}_expand")
    y = _depthwise(y, 3, f"{name}_depthwise", strides=strides)
    y = _conv(y, filters, 1, f"{name}_project", activation=False)
    if strides == 1 and shortcut.shape[-1] == filters:
        y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return y


@register_model(
    "mobilefacenet",
    input_size=INPUT_SIZE,
    align_template="mobile_112",
    # Figures of the MobileFaceNet paper (FaceNet's has none for this network).
    paper_params=0.99e6,
    paper_flops=221e6,
    summary="MobileFaceNet (Chen et al. 2018), ~1M params, 112x112",
)
def mobilefacenet(
    embedding_dim: int = 128, *, pretrained: bool = False, dropout: float = 0.0
) -> keras.Model:
    """MobileFaceNet (Chen et al. 2018), ~1M params, 112x112.

    Layers (Table 1 of the MobileFaceNet paper): conv1 3x3/2 (64) -> depthwise 3x3 (64)
    -> bottlenecks (t, c, n, s) = (2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1),
    (4, 128, 1, 2), (2, 128, 2, 1) -> conv 1x1 (512) -> linear GDConv 7x7 (depthwise,
    valid) -> flatten -> ``embedding_dense`` (the paper's linear 1x1 conv to 128) ->
    ``embedding_l2``. Maps: 56, 28, 14, 7, 1. Paper: 0.99M parameters, 221M
    multiply-adds; we count 1.02M and 221M.

    Choices:
      * Input: RGB pixels in [0, 255], normalised inside the model by
        ``PixelNormalization(127.5, 1/128)`` as in the reference implementations.
      * The paper's batch norm after the final linear 1x1 is omitted: at inference it is
        affine and folds into ``embedding_dense``, and the L2 normalisation follows.
      * BN epsilon 1e-5 and PReLU slopes initialised to 0.25 (the PyTorch defaults the
        public implementations use).
      * Bottleneck names: ``bottleneck{stage}_{repeat}_{expand,depthwise,project}``.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.

    Returns:
        Keras model named ``mobilefacenet``: float32 [N, 112, 112, 3] pixels in
        [0, 255] -> float32 [N, D] unit vectors.
    """
    require_untrained("mobilefacenet", pretrained)
    inputs = keras.Input((*INPUT_SIZE, 3), name="image")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="pixel_normalization")(inputs)
    x = _conv(x, 64, 3, "conv1", strides=2)
    x = _depthwise(x, 3, "conv2_dw")
    for stage, (expansion, filters, repeats, stride) in enumerate(_BOTTLENECKS, start=1):
        for i in range(1, repeats + 1):
            strides = stride if i == 1 else 1
            x = _bottleneck(x, expansion, filters, strides, f"bottleneck{stage}_{i}")
    x = _conv(x, 512, 1, "conv3")
    x = _depthwise(x, x.shape[1], "gdconv", padding="valid", activation=False)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = embedding_head(x, embedding_dim, dropout=dropout)
    return keras.Model(inputs, outputs, name="mobilefacenet")
