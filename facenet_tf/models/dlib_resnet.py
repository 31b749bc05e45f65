"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in Keras.

The network is Davis King's 29-convolution ResNet (dlib's examples/
dnn_face_recognition_ex.cpp, released as CC0), reproduced with dlib's exact semantics:

  * input: (pixel - channel mean) / 256 on RGB, 150 x 150 chips (dlib's 0.25-padded
    5-landmark alignment, ``align_template="dlib_150"``);
  * stride-2 convolutions and pools are unpadded (output 1 + (H - k) // 2); stride-1 3x3
    convolutions pad by 1;
  * dlib's ``affine`` layers (frozen batch norm) are folded into the convolutions when the
    weights are converted (see ``facenet_tf.pretrained.dlib_convert``);
  * a down-sampling block adds a 2x2/2 average pool of its input, without projection;
    dlib's ``add_prev`` zero-extends both operands to the larger size in every dimension
    (new channels at the tail, rows and columns at the bottom and right), which
    ``ZeroPadAdd`` reproduces: it carries the 32 -> 64 -> 128 -> 256 channel growth and
    the 4x4 + 3x3 and 2x2 + 1x1 sums of the last two stages;
  * global mean -> 256 -> 128 linear map without bias = dlib's raw descriptor (layer
    ``dlib_descriptor``, norms about 1.4-1.6; dlib's same-person threshold 0.6 applies
    to Euclidean distances between these), then ``UnitNormalization`` (``embedding_l2``).

Spatial sizes: 150 -> 72 -> 35 (32 ch) -> 17 (64) -> 8 (128) -> 4 (256) -> 2 (256).
"""

from __future__ import annotations

import os

import keras
from keras import ops

from facenet_tf.errors import InvalidInputError
from facenet_tf.layers import PixelNormalization
from facenet_tf.models.registry import register_model

DLIB_MEAN = (122.782, 117.001, 104.298)
DLIB_SCALE = 1.0 / 256.0
DLIB_SAME_PERSON_THRESHOLD = 0.6  # dlib's Euclidean threshold on raw descriptors
DESCRIPTOR_LAYER = "dlib_descriptor"
# (filters, residual blocks) of dlib's alevel4 .. alevel0; stages 2-5 start by down-sampling.
STAGES = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))


@keras.saving.register_keras_serializable(package="facenet_tf")
class ZeroPadAdd(keras.layers.Layer):
    """Sum of feature maps of different sizes, dlib ``add_prev`` style.

    Each input is zero-extended at the end of every non-batch axis (bottom rows, right
    columns, trailing channels) to the largest size among the inputs, then all are summed.
    Inputs of equal shape are simply added.

    Call args:
        inputs: list of float [N, H_i, W_i, C_i] tensors with static H_i, W_i, C_i.

    Returns:
        float [N, max H_i, max W_i, max C_i].
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def _target(self, shapes) -> tuple[int, ...]:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise InvalidInputError(f"{self.name}: inputs of different ranks {shapes}")
        if any(d is None for s in shapes for d in s[1:]):
            raise InvalidInputError(f"{self.name}: needs static non-batch sizes, got {shapes}")
        return tuple(max(s[axis] for s in shapes) for axis in range(1, rank))

    def build(self, input_shape):
        if not isinstance(input_shape, list | tuple) or len(input_shape) < 2:
            raise InvalidInputError(f"{self.name}: expects a list of at least 2 inputs")
        self._target(input_shape)
        self.built = True

    def call(self, inputs):
        shapes = [tuple(x.shape) for x in inputs]
        target = self._target(shapes)
        total = None
        for x, shape in zip(inputs, shapes, strict=True):
            pads = [[0, 0]] + [[0, t - d] for t, d in zip(target, shape[1:], strict=True)]
            if any(p[1] for p in pads):
                x = ops.pad(x, pads)
            total = x if total is None else total + x
        return total

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], *self._target(input_shape))

    def get_config(self) -> dict:
        return super().get_config()


def _conv(x, filters: int, kernel: int, stride: int, name: str, initializer: str):
    # dlib pads k // 2 only for stride 1; its stride-2 convolutions are unpadded.
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        kernel_initializer=initializer,
        name=name,
    )(x)


def _residual_block(x, filters: int, down: bool, name: str, initializer: str):
    """conv3x3(/2) -> relu -> conv3x3, plus the (pooled) input, zero-extended; relu."""
    y = _conv(x, filters, 3, 2 if down else 1, f"{name}_conv1", initializer)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, 1, f"{name}_conv2", initializer)
    shortcut = x
    if down:
        shortcut = keras.layers.AveragePooling2D(2, 2, padding="valid", name=f"{name}_pool")(x)
    y = ZeroPadAdd(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_relu2")(y)


def conv_layer_names() -> list[str]:
    """Names of the 29 convolutions, in dlib's (input -> output) order."""
    names = ["conv1"]
    for s, (_, blocks) in enumerate(STAGES, start=1):
        for b in range(1, blocks + 1):
            names += [f"stage{s}_block{b}_conv1", f"stage{s}_block{b}_conv2"]
    return names


def build_dlib_resnet(embedding_dim: int = 128, name: str = "dlib_resnet_v1") -> keras.Model:
    """The architecture with freshly initialised weights.

    Args:
        embedding_dim: size of the descriptor (dlib's is 128).
        name: the Keras model name.

    Returns:
        keras.Model: float32 [N, 150, 150, 3] RGB pixels in [0, 255] -> float32
        [N, embedding_dim] unit vectors.
    """
    init = "he_normal"
    inputs = keras.Input((150, 150, 3), dtype="float32", name="pixels")
    x = PixelNormalization(mean=DLIB_MEAN, scale=DLIB_SCALE, name="pixel_normalization")(inputs)
    x = _conv(x, 32, 7, 2, "conv1", init)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="pool1")(x)
    for s, (filters, blocks) in enumerate(STAGES, start=1):
        for b in range(1, blocks + 1):
            x = _residual_block(x, filters, s > 1 and b == 1, f"stage{s}_block{b}", init)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(embedding_dim, use_bias=False, name=DESCRIPTOR_LAYER)(x)
    outputs = keras.layers.UnitNormalization(axis=-1, name="embedding_l2", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def load_dlib_weights(model: keras.Model, home: str | os.PathLike | None = None) -> keras.Model:
    """Sets the converted dlib weights on a model from ``build_dlib_resnet(128)``.

    Args:
        model: the model to fill in place.
        home: cache root of the converted weights (default ``$FACENET_TF_HOME`` or
            ``~/.cache/facenet_tf``); they are converted there on first use.

    Returns:
        ``model``.
    """
    from facenet_tf.pretrained.dlib_convert import load_dlib_resnet_weights

    arrays = load_dlib_resnet_weights(home=home)
    for i, layer_name in enumerate(conv_layer_names()):
        model.get_layer(layer_name).set_weights(
            [arrays[f"conv{i:02d}_kernel"], arrays[f"conv{i:02d}_bias"]]
        )
    model.get_layer(DESCRIPTOR_LAYER).set_weights([arrays["fc_kernel"]])
    return model


@register_model(
    "dlib_resnet_v1",
    input_size=(150, 150),
    align_template="dlib_150",
    pretrained_weights=True,
    license="CC0-1.0 (dlib_face_recognition_resnet_model_v1, public domain by its author)",
)
def dlib_resnet_v1(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    weights_home: str | os.PathLike | None = None,
) -> keras.Model:
    """dlib's ResNet face descriptor (CC0, 29 convs, 128-D; LFW 99.38% published by dlib).

    Args:
        embedding_dim: 128 for the pretrained weights; any size with ``pretrained=False``.
        pretrained: load dlib's weights, converted offline from the installed
            ``face-recognition-models`` package and cached on first use.
        weights_home: cache root for the converted weights (default ``$FACENET_TF_HOME``
            or ``~/.cache/facenet_tf``).

    Returns:
        keras.Model named ``dlib_resnet_v1``: float32 [N, 150, 150, 3] RGB pixels in
        [0, 255] (dlib 150x150 chips) -> float32 [N, embedding_dim] unit vectors.

    Raises:
        InvalidInputError: ``embedding_dim`` is not 128 while ``pretrained`` is True.
    """
    if pretrained and embedding_dim != 128:
        raise InvalidInputError(
            f"embedding_dim={embedding_dim}: dlib's pretrained weights are 128-D; "
            "pass pretrained=False for another size"
        )
    model = build_dlib_resnet(embedding_dim, name="dlib_resnet_v1")
    return load_dlib_weights(model, home=weights_home) if pretrained else model


def dlib_descriptor_model(model: keras.Model) -> keras.Model:
    """The sub-model ending at dlib's raw (unnormalised) descriptor.

    dlib's same-person threshold (``DLIB_SAME_PERSON_THRESHOLD`` = 0.6) is a Euclidean
    distance between these raw descriptors, not between unit vectors.

    Args:
        model: a ``dlib_resnet_v1`` model (or one loaded from its ``.keras`` file).

    Returns:
        keras.Model: float32 [N, 150, 150, 3] pixels -> float32 [N, D] raw descriptors.
    """
    try:
        layer = model.get_layer(DESCRIPTOR_LAYER)
    except ValueError:
        raise InvalidInputError(
            f"model {model.name!r} has no {DESCRIPTOR_LAYER!r} layer; pass a dlib_resnet_v1 model"
        ) from None
    return keras.Model(model.inputs, layer.output, name=f"{model.name}_descriptor")
