"""One model spec: what inference, training, evaluation and export need to know of a model.

``ModelSpec`` is read from the registry for registered names (no model is built) and from
a Keras model's shapes plus the registry entry of its name otherwise. It replaces the
places that used to re-derive input size, template and embedding size on their own.
"""

from __future__ import annotations

import dataclasses

import keras

from facenet_tf.errors import InvalidInputError, ModelNotFoundError
from facenet_tf.models.registry import get_model_info

# Every facenet-tf model takes RGB pixel values in this range; normalisation is the
# model's own first layer (``PixelNormalization``), so exported graphs carry it.
PIXEL_RANGE = (0.0, 255.0)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The contract of one embedding model.

    Attributes:
        name: registry name (also the Keras model's ``name``), or the name of an
            unregistered Keras model.
        input_size: (height, width) of the aligned face the model takes.
        template: alignment template producing its input crops (``facenet_tf.align``), or
            None for an unregistered model (raw photos then need an explicit template).
        embedding_dim: D, the size of its unit-vector output.
        pretrained_weights: whether trained weights ship for it.
        license: terms of its weights (or of the architecture alone).
        pixel_range: (low, high) of the float32 RGB pixels it takes.
        compatible_with: the registered model whose embedding space it shares (harmonic
            embeddings), or None.
    """

    name: str
    input_size: tuple[int, int]
    template: str | None
    embedding_dim: int = 128
    pretrained_weights: bool = False
    license: str = ""
    pixel_range: tuple[float, float] = PIXEL_RANGE
    compatible_with: str | None = None


def model_spec(name: str, embedding_dim: int = 128) -> ModelSpec:
    """The spec of a registered model, read from the registry without building it.

    Raises:
        ModelNotFoundError: ``name`` is not registered.
    """
    info = get_model_info(name)
    return ModelSpec(
        name=info.name,
        input_size=tuple(info.input_size),
        template=info.align_template,
        embedding_dim=embedding_dim,
        pretrained_weights=info.pretrained_weights,
        license=info.license,
        compatible_with=info.compatible_with,
    )


def spec_of(model: keras.Model) -> ModelSpec:
    """The spec of a built Keras model: its shapes, plus the registry entry of its name.

    Raises:
        InvalidInputError: the model does not map fixed-size [N, H, W, 3] images to [N, D].
    """
    shape = model.input_shape
    if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
        raise InvalidInputError(
            f"model {model.name!r}: expected a fixed input shape [N, H, W, 3], got {shape}"
        )
    out = model.output_shape
    if len(out) != 2 or out[-1] is None:
        raise InvalidInputError(f"model {model.name!r}: expected output [N, D], got {out}")
    size, dim = (int(shape[1]), int(shape[2])), int(out[-1])
    try:
        registered = model_spec(model.name, dim)
    except ModelNotFoundError:
        return ModelSpec(name=model.name, input_size=size, template=None, embedding_dim=dim)
    if registered.input_size != size:
        raise InvalidInputError(
            f"model {model.name!r}: input {size} differs from the registered "
            f"{registered.input_size}; rename the model or rebuild it from the registry"
        )
    return registered


def shared_space(first: str, second: str) -> bool:
    """Whether models ``first`` and ``second`` make comparable vectors: the same model, or
    one registered as harmonic with the other (``compatible_with``), either way round."""
    if first == second:
        return True
    try:
        a, b = get_model_info(first), get_model_info(second)
    except ModelNotFoundError:
        return False
    return a.compatible_with == second or b.compatible_with == first
