"""What the exporters need from a model: the Keras model, its spec and pixel normalisation.

The LiteRT-facing forward pass (``litert_forward``) also lives here because it is the
one place where export differs from the Keras graph, see ``l2_normalize_fusable`` and
``MaxFormPReLU``: both compute the model's own function in a form TFLite runs better.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import keras
import numpy as np
from keras import ops

from facenet_tf.distances import L2_NORMALIZE_EPSILON
from facenet_tf.models.spec import ModelSpec, spec_of

EMBEDDING_LAYER = "embedding_l2"


@dataclasses.dataclass(frozen=True)
class ExportModel:
    """A Keras embedder plus the metadata an exported artifact has to carry.

    Attributes:
        model: Keras model, float32 [N, H, W, 3] pixels in [0, 255] -> float32 [N, D].
        spec: its ``facenet_tf.models.spec.ModelSpec`` (name, input size, template, D).
        pixel_mean: per-channel offsets of its ``PixelNormalization`` layer, or None.
        pixel_scale: per-channel multipliers of that layer, or None.
    """

    model: keras.Model
    spec: ModelSpec
    pixel_mean: list[float] | None
    pixel_scale: list[float] | None

    @property
    def name(self) -> str:
        """Registry name (the Keras model's ``name``)."""
        return self.spec.name

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.spec.input_size

    @property
    def embedding_dim(self) -> int:
        """D."""
        return self.spec.embedding_dim

    @property
    def align_template(self) -> str | None:
        """Alignment template producing its input crops; None for an unregistered model."""
        return self.spec.template


def _per_channel(value) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list | tuple) else [float(value)] * 3


def describe(model: keras.Model) -> ExportModel:
    """Collects ``ExportModel`` metadata from a Keras model (registered or not): its spec
    (``facenet_tf.models.spec.spec_of``) and its pixel normalisation.

    Raises:
        InvalidInputError: the model does not take [N, H, W, 3] images of a fixed size
            or does not return [N, D].
    """
    from facenet_tf.layers.pixel_normalization import PixelNormalization

    spec = spec_of(model)
    norm = next((la for la in model.layers if isinstance(la, PixelNormalization)), None)
    return ExportModel(
        model=model,
        spec=spec,
        pixel_mean=_per_channel(norm.mean) if norm is not None else None,
        pixel_scale=_per_channel(norm.scale) if norm is not None else None,
    )


def load(name_or_path: str | os.PathLike) -> ExportModel:
    """Loads a registered model (with its pretrained weights where it has them) or a
    ``.keras`` file, and describes it."""
    from facenet_tf.inference import load_model

    return describe(load_model(name_or_path))


def l2_normalize_fusable(x, epsilon: float = L2_NORMALIZE_EPSILON):
    """``x / max(|x|, sqrt(epsilon))`` along the last axis, written as
    ``x * rsqrt(max(sum(x^2), epsilon))``.

    Keras' ``UnitNormalization`` computes ``x * min(rsqrt(sum(x^2)), 1 / eps)``: the same
    function, but the TFLite converter only recognises the form above as its
    ``L2_NORMALIZATION`` op. Otherwise the head lowers to SQUARE / SUM / RSQRT / MINIMUM /
    MUL, and SQUARE has no int8 kernel, which leaves a float island (DEQUANTIZE -> SQUARE ->
    QUANTIZE) in a full-integer model. ``L2_NORMALIZATION`` runs in int8 with a fixed
    output scale of 1/128, so int8 outputs are never clipped to a calibrated range.

    Args:
        x: float [N, D].
        epsilon: floor of the squared norm, as in ``facenet_tf.distances.l2_normalize``
            (Keras uses 1e-12 on the norm; the two agree for any vector with norm > 1e-6,
            i.e. every real embedding).

    Returns:
        float [N, D] unit vectors.
    """
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), epsilon))


class MaxFormPReLU(keras.layers.Layer):
    """A PReLU whose slopes are all <= 1, computed as ``max(x, alpha * x)``.

    For alpha <= 1 this is PReLU's function exactly (bit for bit in float32: both pick
    ``x`` or the same product ``alpha * x``). TFLite lowers it to MUL + MAXIMUM, which
    XNNPACK runs in int8, whereas the int8 PRELU kernel is the reference one: on a
    [1, 56, 56, 128] activation 1.24 ms against 0.26 ms (1 thread, AVX-512 Xeon).

    Args:
        alpha: float [..., C] slopes of the PReLU it replaces (broadcast over x).
    """

    def __init__(self, alpha, **kwargs):
        super().__init__(**kwargs)
        self._alpha = np.asarray(alpha, np.float32)

    def call(self, x):
        return ops.maximum(x, x * self._alpha)


def max_form_prelu(model: keras.Model) -> keras.Model:
    """``model`` with every ``keras.layers.PReLU`` whose slopes are all <= 1 replaced by
    ``MaxFormPReLU`` (same name, same function). Layers with weights are shared, not
    copied; weightless ``UnitNormalization`` layers are copied so that the new graph's
    tensors (e.g. the last layer's ``input``) are its own. A PReLU with a slope above 1
    is kept as it is. Returns ``model`` itself when there is nothing to replace."""

    slopes = {
        layer.name: alpha
        for layer in model.layers
        if type(layer) is keras.layers.PReLU
        and np.all((alpha := keras.ops.convert_to_numpy(layer.alpha)) <= 1)
    }
    if not slopes:
        return model

    def clone(layer):
        if layer.name in slopes:
            return MaxFormPReLU(slopes[layer.name], name=layer.name, dtype=layer.dtype_policy)
        if type(layer) is keras.layers.UnitNormalization:
            return keras.layers.UnitNormalization.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(model, clone_function=clone)


def litert_forward(model: keras.Model):
    """The forward function that is converted to TFLite.

    When the model ends in ``keras.layers.UnitNormalization`` (the registry convention),
    that last layer is re-expressed with ``l2_normalize_fusable`` so it converts to one
    ``L2_NORMALIZATION`` op (full-integer friendly), and PReLUs run in max form
    (``max_form_prelu``); every other layer is the model's own. A model that already
    ends in a fusable normalisation is used as is.

    Returns:
        A callable float32 [N, H, W, 3] -> float32 [N, D].
    """
    model = max_form_prelu(model)
    last = model.layers[-1]
    is_unit_norm = type(last) is keras.layers.UnitNormalization
    axis = last.axis if is_unit_norm else None
    if is_unit_norm and axis in (-1, [-1], [len(last.input.shape) - 1]) and len(model.outputs) == 1:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        features = keras.Model(inputs, last.input, name=f"{model.name}_features")
        logging.info(
            "export: %s's final UnitNormalization %r runs as the TFLite L2_NORMALIZATION op",
            model.name,
            last.name,
        )

        def forward(x):
            return l2_normalize_fusable(ops.cast(features(x, training=False), "float32"))

        return forward

    def plain(x):
        return ops.cast(model(x, training=False), "float32")

    return plain
