"""FaceNet's Inception networks: NN2, NN3, NN4, NNS1 ("mini") and NNS2 ("tiny").

All five share one builder over a ``_NetSpec``: a GoogLeNet stem (conv1 7x7/2 -> max
pool -> LRN -> 1x1 reduce -> 3x3 conv -> LRN -> max pool), a list of Inception modules
(rows of the paper's Table 2, see ``facenet_tf.layers.InceptionSpec``), then either a
global average pool (NN2/3/4) or fully connected layers on the flattened map (NNS1/2),
and the L2-normalised embedding.

Common choices where the 2015 paper is silent or dated (each model's docstring adds its
own):
  * Every convolution is conv -> batch normalisation -> ReLU (no conv bias). The paper
    predates batch normalisation, which makes training from random initialisation
    faster and less sensitive to the learning rate. The "norm" rows stay as local
    response normalisation (``local_response_norm``).
  * Pooling uses "same" padding, which reproduces Table 2's sizes (112, 56, 28, 14, 7).
  * L2 pooling is the zero-padded window norm of ``facenet_tf.layers.L2Pooling2D``.
  * Input: RGB pixels in [0, 255], normalised inside the model by
    ``PixelNormalization(127.5, 1/128)`` to about [-1, 1] (the paper does not say; this is
    the fixed standardisation of the widely used TensorFlow FaceNet ports).
"""

from __future__ import annotations

import dataclasses

import keras

from facenet_tf.layers import (
    InceptionSpec,
    LocalResponseNormalization,
    PixelNormalization,
    conv_bn_act,
    inception_module,
)
from facenet_tf.models.heads import embedding_head
from facenet_tf.models.registry import register_model, require_untrained

I = InceptionSpec  # noqa: E741  short alias keeps the tables below one row per module

# Table 2 of the paper: NN2 (224x224) and, at 160x160, NN3.
_NN2_MODULES = (
    I("3a", 64, 96, 128, 16, 32, "max", 32),
    I("3b", 64, 96, 128, 32, 64, "l2", 64),
    I("3c", 0, 128, 256, 32, 64, "max", 0, strides=2),
    I("4a", 256, 96, 192, 32, 64, "l2", 128),
    I("4b", 224, 112, 224, 32, 64, "l2", 128),
    I("4c", 192, 128, 256, 32, 64, "l2", 128),
    I("4d", 160, 144, 288, 32, 64, "l2", 128),
    I("4e", 0, 160, 256, 64, 128, "max", 0, strides=2),
    I("5a", 384, 192, 384, 48, 128, "l2", 128),
    I("5b", 384, 192, 384, 48, 128, "max", 128),
)

# NN4: NN2 without the 5x5 branches in the highest layers (paper, Section 4).
_NN4_MODULES = (
    *_NN2_MODULES[:-2],
    I("5a", 384, 192, 384, 0, 0, "l2", 128),
    I("5b", 384, 192, 384, 0, 0, "max", 128),
)

# NNS1 "mini": NN2's layout at half its widths without 4c, 4d and the 5x5 branches of
# 5a/5b; a 1536-unit fully connected layer on the flattened 6x6 map carries most of the
# paper's 26M parameters at little cost in multiply-adds.
_NNS1_MODULES = (
    I("3a", 32, 48, 64, 8, 16, "max", 16),
    I("3b", 32, 48, 64, 16, 32, "l2", 32),
    I("3c", 0, 64, 128, 16, 32, "max", 0, strides=2),
    I("4a", 128, 48, 96, 16, 32, "l2", 64),
    I("4b", 112, 56, 112, 16, 32, "l2", 64),
    I("4e", 0, 80, 128, 32, 64, "max", 0, strides=2),
    I("5a", 192, 96, 192, 0, 0, "l2", 64),
    I("5b", 192, 96, 192, 0, 0, "max", 64),
)

# NNS2 "tiny": a quarter-width stem with a 5x5 conv1 and four small modules; a fully
# connected layer on the flattened 5x4 map carries most of the paper's 4.3M parameters.
_NNS2_MODULES = (
    I("3a", 16, 16, 32, 4, 8, "max", 8),
    I("3b", 0, 32, 64, 8, 16, "max", 0, strides=2),
    I("4e", 0, 64, 128, 16, 32, "max", 0, strides=2),
    I("5a", 96, 64, 96, 0, 0, "l2", 32),
)


@dataclasses.dataclass(frozen=True)
class _NetSpec:
    """Everything that differs between the Inception family members.

    Attributes:
        name: registry and Keras model name.
        input_size: (height, width).
        conv1: filters of the stride-2 first convolution.
        conv2_reduce: filters of the 1x1 before conv2 (Table 2's "inception (2)").
        conv2: filters of the 3x3 conv2.
        modules: the Inception modules after the stem.
        fc_units: widths of ReLU fully connected layers on the flattened last map; empty
            means a global average pool instead (NN2/3/4).
        conv1_kernel: kernel size of conv1 (Table 2: 7).
    """

    name: str
    input_size: tuple[int, int]
    conv1: int
    conv2_reduce: int
    conv2: int
    modules: tuple[InceptionSpec, ...]
    fc_units: tuple[int, ...] = ()
    conv1_kernel: int = 7


def _build(
    spec: _NetSpec, embedding_dim: int, dropout: float, local_response_norm: bool
) -> keras.Model:
    inputs = keras.Input((*spec.input_size, 3), name="image")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="pixel_normalization")(inputs)
    x = conv_bn_act(x, spec.conv1, spec.conv1_kernel, strides=2, name="conv1")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if local_response_norm:
        x = LocalResponseNormalization(name="norm1")(x)
    x = conv_bn_act(x, spec.conv2_reduce, 1, name="conv2_reduce")
    x = conv_bn_act(x, spec.conv2, 3, name="conv2")
    if local_response_norm:
        x = LocalResponseNormalization(name="norm2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for module in spec.modules:
        x = inception_module(x, module)
    if spec.fc_units:
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(spec.fc_units, start=1):
            x = keras.layers.Dense(units, name=f"fc{i}_dense")(x)
            x = keras.layers.Activation("relu", name=f"fc{i}_relu")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = embedding_head(x, embedding_dim, dropout=dropout)
    return keras.Model(inputs, outputs, name=spec.name)


_NN2 = _NetSpec("nn2", (224, 224), 64, 64, 192, _NN2_MODULES)
_NN3 = dataclasses.replace(_NN2, name="nn3", input_size=(160, 160))
_NN4 = _NetSpec("nn4", (96, 96), 64, 64, 192, _NN4_MODULES)
_NNS1 = _NetSpec("nns1", (165, 165), 32, 32, 64, _NNS1_MODULES, fc_units=(1536,))
_NNS2 = _NetSpec("nns2", (140, 116), 16, 16, 24, _NNS2_MODULES, fc_units=(896,), conv1_kernel=5)


@register_model(
    "nn2",
    input_size=_NN2.input_size,
    align_template="facenet_160",
    paper_params=7.5e6,
    paper_flops=1.6e9,
    summary="FaceNet NN2 (Table 2): Inception, 224x224",
)
def nn2(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NN2 (Table 2): Inception, 224x224.

    Exactly Table 2's widths; the "fully conn" row is ``embedding_dense``. Input float32
    [N, 224, 224, 3] RGB in [0, 255]; output float32 [N, D] unit vectors.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.
        local_response_norm: keep the LRN layers of the stem ("norm" rows).
    """
    require_untrained("nn2", pretrained)
    return _build(_NN2, embedding_dim, dropout, local_response_norm)


@register_model(
    "nn3",
    input_size=_NN3.input_size,
    align_template="facenet_160",
    summary="FaceNet NN3: NN2 at 160x160",
)
def nn3(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NN3: NN2 at 160x160.

    Same layers and parameters as NN2; the maps are 80, 40, 20, 10 and 5 pixels wide, so
    multiply-adds scale with the input area (about 0.51 x NN2's). The paper gives no
    separate figures. Input float32 [N, 160, 160, 3] RGB in [0, 255]; output float32
    [N, D] unit vectors.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.
        local_response_norm: keep the LRN layers of the stem ("norm" rows).
    """
    require_untrained("nn3", pretrained)
    return _build(_NN3, embedding_dim, dropout, local_response_norm)


@register_model(
    "nn4",
    input_size=_NN4.input_size,
    align_template="facenet_160",
    paper_flops=285e6,
    summary="FaceNet NN4: NN2-style Inception, no 5x5 in 5a/5b, 96x96",
)
def nn4(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NN4: NN2-style Inception, no 5x5 in 5a/5b, 96x96.

    The paper: "96x96 input ... no 5x5 convolutions in the higher layers". We drop the
    5x5 branches of 5a and 5b only (as davidsandberg/facenet's and OpenFace's nn4 do),
    which lands on the paper's 285M multiply-adds; everything else is NN2's. Input float32
    [N, 96, 96, 3] RGB in [0, 255]; output float32 [N, D] unit vectors.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.
        local_response_norm: keep the LRN layers of the stem ("norm" rows).
    """
    require_untrained("nn4", pretrained)
    return _build(_NN4, embedding_dim, dropout, local_response_norm)


@register_model(
    "nns1",
    input_size=_NNS1.input_size,
    align_template="facenet_160",
    paper_params=26e6,
    paper_flops=220e6,
    summary='FaceNet NNS1 ("mini" Inception), 165x165',
)
def nns1(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NNS1 ("mini" Inception), 165x165.

    The paper publishes only the input size, 26M parameters and 220M FLOPS. So many
    parameters at so few multiply-adds can only sit in a fully connected layer, as in
    NN1. Our design: NN2's stem and modules at half the widths, without 4c and 4d and
    without the 5x5 branches of 5a/5b (maps 83, 42, 21, 11, 6 pixels), then the flattened
    6x6x448 map -> fc1 (1536, ReLU; 24.8M parameters) -> embedding. Input float32
    [N, 165, 165, 3] RGB in [0, 255]; output float32 [N, D] unit vectors.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.
        local_response_norm: keep the LRN layers of the stem ("norm" rows).
    """
    require_untrained("nns1", pretrained)
    return _build(_NNS1, embedding_dim, dropout, local_response_norm)


@register_model(
    "nns2",
    input_size=_NNS2.input_size,
    align_template="facenet_160",
    paper_params=4.3e6,
    paper_flops=20e6,
    summary='FaceNet NNS2 ("tiny" Inception), 140x116 (H x W)',
)
def nns2(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NNS2 ("tiny" Inception), 140x116 (H x W).

    The paper gives "140x116", 4.3M parameters and 20M FLOPS. We read it as height 140,
    width 116 (faces are taller than wide). Design: a quarter-width stem with a cheaper
    5x5/2 conv1 (16, 16, 24 channels), then modules 3a, 3b (stride 2, no 1x1), 4e
    (stride 2) and 5a (no 5x5) at maps 70x58, 35x29, 18x15, 9x8, 5x4, then the flattened
    5x4x224 map -> fc1 (896, ReLU; 4.0M parameters) -> embedding. Input float32
    [N, 140, 116, 3] RGB in [0, 255]; output float32 [N, D] unit vectors.

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate before the embedding projection during training.
        local_response_norm: keep the LRN layers of the stem ("norm" rows).
    """
    require_untrained("nns2", pretrained)
    return _build(_NNS2, embedding_dim, dropout, local_response_norm)
