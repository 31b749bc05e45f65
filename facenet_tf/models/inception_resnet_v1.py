"""Inception-ResNet-v1 at 160x160: the backbone of davidsandberg/facenet.

Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections"
(2016), as configured by davidsandberg/facenet's ``models/inception_resnet_v1.py``: the
stem, 5 x block35 (scale 0.17), reduction A (k, l, m, n = 192, 192, 256, 384),
10 x block17 (scale 0.10), reduction B, 5 x block8 (scale 0.20) plus one final block8
without activation (scale 1.0), global average pool, dropout and the bottleneck.

Layer names mirror that implementation's TF-slim scopes in snake case, so a checkpoint
converter is a lookup table: ``InceptionResnetV1/Repeat/block35_3/Branch_1/
Conv2d_0b_3x3`` becomes ``block35_3_branch_1_conv2d_0b_3x3_{conv,bn}``,
``Mixed_6a/Branch_0/Conv2d_1a_3x3`` becomes ``mixed_6a_branch_0_conv2d_1a_3x3_*``,
``Conv2d_4a_3x3`` becomes ``conv2d_4a_3x3_*``. As in TF-slim, batch normalisation has an
offset but no scale (epsilon 1e-3, momentum 0.995) and the convolutions before it have
no bias; the 1x1 "up" convolutions closing each residual block have a bias and no BN.
"""

from __future__ import annotations

import keras

from facenet_tf.layers import PixelNormalization, conv_bn_act
from facenet_tf.models.heads import embedding_head
from facenet_tf.models.registry import register_model, require_untrained

INPUT_SIZE = (160, 160)
_BN = {"bn_scale": False, "bn_epsilon": 1e-3, "bn_momentum": 0.995}


def _conv(x, filters, kernel, name, strides=1, padding="same"):
    return conv_bn_act(x, filters, kernel, strides=strides, padding=padding, name=name, **_BN)


def _residual(x, branches, name: str, scale: float, activation: bool):
    """Concatenates ``branches``, projects back to x's width, adds ``scale`` times it."""
    mixed = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(branches)
    up = keras.layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv2d_1x1")(mixed)
    if scale != 1.0:
        up = keras.layers.Rescaling(scale, name=f"{name}_scale")(up)
    x = keras.layers.Add(name=f"{name}_add")([x, up])
    if activation:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _block35(x, name: str, scale: float = 0.17):
    """35x35 (17x17 at 160 px) block: branches 32 | 32-32 | 32-32-32 channels."""
    b0 = _conv(x, 32, 1, f"{name}_branch_0_conv2d_1x1")
    b1 = _conv(x, 32, 1, f"{name}_branch_1_conv2d_0a_1x1")
    b1 = _conv(b1, 32, 3, f"{name}_branch_1_conv2d_0b_3x3")
    b2 = _conv(x, 32, 1, f"{name}_branch_2_conv2d_0a_1x1")
    b2 = _conv(b2, 32, 3, f"{name}_branch_2_conv2d_0b_3x3")
    b2 = _conv(b2, 32, 3, f"{name}_branch_2_conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], name, scale, activation=True)


def _block17(x, name: str, scale: float = 0.10):
    """17x17 (8x8 at 160 px) block: branches 128 | 128-128(1x7)-128(7x1)."""
    b0 = _conv(x, 128, 1, f"{name}_branch_0_conv2d_1x1")
    b1 = _conv(x, 128, 1, f"{name}_branch_1_conv2d_0a_1x1")
    b1 = _conv(b1, 128, (1, 7), f"{name}_branch_1_conv2d_0b_1x7")
    b1 = _conv(b1, 128, (7, 1), f"{name}_branch_1_conv2d_0c_7x1")
    return _residual(x, [b0, b1], name, scale, activation=True)


def _block8(x, name: str, scale: float = 0.20, activation: bool = True):
    """8x8 (3x3 at 160 px) block: branches 192 | 192-192(1x3)-192(3x1)."""
    b0 = _conv(x, 192, 1, f"{name}_branch_0_conv2d_1x1")
    b1 = _conv(x, 192, 1, f"{name}_branch_1_conv2d_0a_1x1")
    b1 = _conv(b1, 192, (1, 3), f"{name}_branch_1_conv2d_0b_1x3")
    b1 = _conv(b1, 192, (3, 1), f"{name}_branch_1_conv2d_0c_3x1")
    return _residual(x, [b0, b1], name, scale, activation=activation)


def _reduction_a(x, k: int = 192, l: int = 192, m: int = 256, n: int = 384):  # noqa: E741
    name = "mixed_6a"
    b0 = _conv(x, n, 3, f"{name}_branch_0_conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv(x, k, 1, f"{name}_branch_1_conv2d_0a_1x1")
    b1 = _conv(b1, l, 3, f"{name}_branch_1_conv2d_0b_3x3")
    b1 = _conv(b1, m, 3, f"{name}_branch_1_conv2d_1a_3x3", strides=2, padding="valid")
    b2 = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=f"{name}_branch_2_pool")(x)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([b0, b1, b2])


def _reduction_b(x):
    name = "mixed_7a"
    b0 = _conv(x, 256, 1, f"{name}_branch_0_conv2d_0a_1x1")
    b0 = _conv(b0, 384, 3, f"{name}_branch_0_conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv(x, 256, 1, f"{name}_branch_1_conv2d_0a_1x1")
    b1 = _conv(b1, 256, 3, f"{name}_branch_1_conv2d_1a_3x3", strides=2, padding="valid")
    b2 = _conv(x, 256, 1, f"{name}_branch_2_conv2d_0a_1x1")
    b2 = _conv(b2, 256, 3, f"{name}_branch_2_conv2d_0b_3x3")
    b2 = _conv(b2, 256, 3, f"{name}_branch_2_conv2d_1a_3x3", strides=2, padding="valid")
    b3 = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=f"{name}_branch_3_pool")(x)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([b0, b1, b2, b3])


@register_model(
    "inception_resnet_v1",
    input_size=INPUT_SIZE,
    align_template="facenet_160",
    summary="Inception-ResNet-v1 (davidsandberg/facenet backbone), 160x160",
)
def inception_resnet_v1(
    embedding_dim: int = 128, *, pretrained: bool = False, dropout: float = 0.2
) -> keras.Model:
    """Inception-ResNet-v1 (davidsandberg/facenet backbone), 160x160.

    Feature maps at 160x160 input: stem 79 -> 77 -> 38 -> 36 -> 17x17x256, block35 at
    17x17x256, reduction A -> 8x8x896, block17 at 8x8x896, reduction B -> 3x3x1792,
    block8 at 3x3x1792, average pool -> 1792.

    Choices:
      * Input: RGB pixels in [0, 255], normalised inside the model by
        ``PixelNormalization(127.5, 1/128)``, davidsandberg/facenet's
        ``fixed_image_standardization`` used by its 2018 pretrained models.
      * Head: dropout (davidsandberg's keep probability 0.8 -> rate 0.2), then the shared
        ``embedding_head``: ``embedding_dense`` (with bias) -> ``embedding_l2``. Its
        "Bottleneck" is a bias-free fully connected layer followed by batch norm; at
        inference that BN is affine and folds exactly into ``embedding_dense``'s kernel
        and bias, which is how its checkpoints are to be converted.
      * The residual scale is a ``keras.layers.Rescaling`` layer (no Python lambdas, so
        ``.keras`` files load).

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, the bottleneck width (davidsandberg: 128 or 512).
        dropout: dropout rate before the bottleneck during training.

    Returns:
        Keras model named ``inception_resnet_v1``: float32 [N, 160, 160, 3] pixels in
        [0, 255] -> float32 [N, D] unit vectors.
    """
    require_untrained("inception_resnet_v1", pretrained)
    inputs = keras.Input((*INPUT_SIZE, 3), name="image")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="pixel_normalization")(inputs)
    x = _conv(x, 32, 3, "conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv(x, 32, 3, "conv2d_2a_3x3", padding="valid")
    x = _conv(x, 64, 3, "conv2d_2b_3x3")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool_3a_3x3")(x)
    x = _conv(x, 80, 1, "conv2d_3b_1x1", padding="valid")
    x = _conv(x, 192, 3, "conv2d_4a_3x3", padding="valid")
    x = _conv(x, 256, 3, "conv2d_4b_3x3", strides=2, padding="valid")
    for i in range(1, 6):
        x = _block35(x, f"block35_{i}")
    x = _reduction_a(x)
    for i in range(1, 11):
        x = _block17(x, f"block17_{i}")
    x = _reduction_b(x)
    for i in range(1, 6):
        x = _block8(x, f"block8_{i}")
    x = _block8(x, "block8", scale=1.0, activation=False)
    x = keras.layers.GlobalAveragePooling2D(name="avgpool_1a_8x8")(x)
    outputs = embedding_head(x, embedding_dim, dropout=dropout)
    return keras.Model(inputs, outputs, name="inception_resnet_v1")
