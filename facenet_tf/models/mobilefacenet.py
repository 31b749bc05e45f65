"""MobileFaceNet (Chen et al., 2018): a phone-sized face embedder at 112x112.

"MobileFaceNets: Efficient CNNs for Accurate Real-Time Face Verification on Mobile
Devices" (arXiv:1804.07573), Table 1: MobileNetV2-style inverted residual bottlenecks
with PReLU, and a global depthwise convolution (GDConv) head instead of global average
pooling, so that the network can weight the face's regions differently.
"""

from __future__ import annotations

import keras

from facenet_tf.errors import InvalidInputError
from facenet_tf.layers import PixelNormalization
from facenet_tf.models.heads import embedding_head
from facenet_tf.models.registry import register_model, require_untrained

INPUT_SIZE = (112, 112)
HARMONIC_DLIB = "mobilefacenet_harmonic_dlib"
HARMONIC_DLIB_LICENSE = (
    "CelebA-non-commercial (weights trained on CelebA, whose images are for non-commercial "
    "research purposes only: the weights carry that restriction; the code is Apache-2.0)"
)

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
    return build_mobilefacenet(embedding_dim, dropout=dropout, name="mobilefacenet")


def build_mobilefacenet(
    embedding_dim: int = 128, *, dropout: float = 0.0, name: str = "mobilefacenet"
) -> keras.Model:
    """The MobileFaceNet graph (see ``mobilefacenet``), named ``name``.

    Returns:
        Keras model: float32 [N, 112, 112, 3] pixels in [0, 255] -> float32 [N, D].
    """
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
    return keras.Model(inputs, outputs, name=name)


@register_model(
    HARMONIC_DLIB,
    input_size=INPUT_SIZE,
    align_template="mobile_112",
    pretrained_weights=True,
    license=HARMONIC_DLIB_LICENSE,
    paper_params=0.99e6,
    paper_flops=221e6,
    summary="MobileFaceNet trained by facenet-tf, harmonic with dlib_resnet_v1 (vectors "
    "comparable with it), 112x112",
    compatible_with="dlib_resnet_v1",
)
def mobilefacenet_harmonic_dlib(
    embedding_dim: int = 128, *, pretrained: bool = False, dropout: float = 0.0
) -> keras.Model:
    """MobileFaceNet whose 128-D vectors live in ``dlib_resnet_v1``'s embedding space.

    Trained by this project (``docs/models/mobilefacenet_harmonic_dlib.md``) with the
    triplet loss plus FaceNet's harmonic compatibility loss against ``dlib_resnet_v1``'s
    vectors, on the LFW-disjoint CelebA images only: a gallery enrolled with
    ``dlib_resnet_v1`` can be searched with this model's vectors and vice versa.

    Args:
        embedding_dim: 128 (the shipped weights' size); any size with ``pretrained=False``.
        pretrained: load the weights shipped in the package (sha256-checked).
        dropout: dropout rate before the embedding projection during training.

    Returns:
        Keras model named ``mobilefacenet_harmonic_dlib``: float32 [N, 112, 112, 3]
        pixels in [0, 255] -> float32 [N, D] unit vectors.

    Raises:
        InvalidInputError: ``embedding_dim`` is not 128 while ``pretrained`` is True.
        ChecksumError: the shipped weights file is damaged.
    """
    if pretrained and embedding_dim != 128:
        raise InvalidInputError(
            f"embedding_dim={embedding_dim}: the shipped {HARMONIC_DLIB} weights are 128-D; "
            "pass pretrained=False for another size"
        )
    model = build_mobilefacenet(embedding_dim, dropout=dropout, name=HARMONIC_DLIB)
    if pretrained:
        from facenet_tf.pretrained.shipped import load_shipped_weights

        load_shipped_weights(model, HARMONIC_DLIB)
    return model
