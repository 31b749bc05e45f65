"""Batched inference: turning user images into embeddings.

``embed`` is the library's main entry point. It accepts what users have at hand (file
paths, one image, a batch array, a list of arrays), validates every item with an error
that names it, detects and aligns faces in raw photos (or skips that for pre-aligned
crops), resizes to the model's input and runs the model in a ``tf.function`` whose
input signature has a free batch dimension, so it is traced once per model.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import tensorflow as tf

from facenet_tf.errors import (
    InvalidInputError,
    InvalidInputTypeError,
    ModelNotFoundError,
    NoFaceError,
)
from facenet_tf.io.images import read_image, to_rgb_float32
from facenet_tf.models.registry import ModelInfo, default_model_name, get_model_info

ImageLike = str | os.PathLike | np.ndarray
NO_FACE_POLICIES = ("whole_image", "raise", "nan")


class FaceNotFoundWarning(UserWarning):
    """Some raw photos had no detectable face; they were embedded as whole images."""


class Embedder:
    """A model plus what it declares: input size and alignment template.

    Args:
        model: Keras model mapping float32 [N, H, W, 3] pixels in [0, 255] to [N, D].
        info: registry metadata; inferred from the model's input shape when None.
    """

    def __init__(self, model: keras.Model, info: ModelInfo | None = None):
        shape = model.input_shape
        if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
            raise InvalidInputError(
                f"model {model.name!r}: expected a fixed input shape [N, H, W, 3], got {shape}"
            )
        self.model = model
        self.name = info.name if info else model.name
        self.input_size: tuple[int, int] = (int(shape[1]), int(shape[2]))
        self.align_template = info.align_template if info else "facenet_160"
        self.embedding_dim = int(model.output_shape[-1])
        spec = tf.TensorSpec([None, *self.input_size, 3], tf.float32, name="pixels")
        self._forward = tf.function(self._call, input_signature=[spec], reduce_retracing=True)

    def _call(self, pixels: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.model(pixels, training=False), tf.float32)

    @property
    def tracing_count(self) -> int:
        """How often the forward ``tf.function`` was traced (1 after any number of calls)."""
        return self._forward.experimental_get_tracing_count()

    def embed_pixels(self, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Embeds float32 [N, H, W, 3] pixels already at the input size; returns [N, D]."""
        out = [
            self._forward(tf.constant(pixels[i : i + batch_size])).numpy()
            for i in range(0, len(pixels), batch_size)
        ]
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.embedding_dim), np.float32)


_CACHE: dict[str, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name_or_path: str | os.PathLike) -> keras.Model:
    """Loads a registered model by name, or a ``.keras`` file saved from one.

    Args:
        name_or_path: a name from ``facenet_tf.list_models()`` (pretrained weights are
            loaded where the model has them) or a path to a ``.keras`` file.

    Returns:
        The Keras model (float32 [N, H, W, 3] pixels in [0, 255] -> [N, D] unit vectors).

    Raises:
        ModelNotFoundError: neither a registered name nor an existing file.
    """
    import facenet_tf.models  # noqa: F401  (registers custom layers before deserialising)

    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix == ".keras" or path.exists():
        if not path.is_file():
            raise ModelNotFoundError(f"{text}: no such model file")
        return keras.saving.load_model(path, compile=False)
    from facenet_tf.models.registry import create_model

    return create_model(text)


def get_embedder(model: str | os.PathLike | keras.Model | Embedder | None = None) -> Embedder:
    """The cached ``Embedder`` for a model name, ``.keras`` path or Keras model."""
    if isinstance(model, Embedder):
        return model
    if isinstance(model, keras.Model):
        return Embedder(model, _info_or_none(model.name))
    key = os.fspath(model) if model is not None else default_model_name()
    if not isinstance(key, str):
        raise InvalidInputTypeError(f"model: expected a name, path or keras.Model, got {model!r}")
    with _CACHE_LOCK:
        if key not in _CACHE:
            keras_model = load_model(key)
            _CACHE[key] = Embedder(keras_model, _info_or_none(keras_model.name))
        return _CACHE[key]


def _info_or_none(name: str) -> ModelInfo | None:
    try:
        return get_model_info(name)
    except ModelNotFoundError:
        return None


def as_image_list(images: Any) -> list[tuple[str, Any]]:
    """Splits user input into (name, item) pairs, one per image, in order.

    Accepts a path, an array [H, W, C] or [H, W] (one image), an array [N, H, W, C]
    (a batch), a tf.Tensor, or a list/tuple of paths and arrays. Names are what error
    messages use: the path, or ``images[i]``.
    """
    if isinstance(images, tf.Tensor):
        images = images.numpy()
    if isinstance(images, str | os.PathLike):
        return [(os.fspath(images), images)]
    if isinstance(images, np.ndarray):
        if images.dtype == object:
            images = list(images)
        elif images.ndim == 4:
            if images.shape[0] == 0:
                raise InvalidInputError(f"images: empty batch (shape {images.shape})")
            return [(f"images[{i}]", img) for i, img in enumerate(images)]
        elif images.ndim in (2, 3):
            return [("image", images)]
        else:
            raise InvalidInputError(
                f"images: expected [H, W], [H, W, C] or [N, H, W, C], got shape {images.shape}"
            )
    if isinstance(images, Sequence) and not isinstance(images, bytes):
        if len(images) == 0:
            raise InvalidInputError("images: empty batch (no images given)")
        items = []
        for i, item in enumerate(images):
            if isinstance(item, str | os.PathLike):
                items.append((os.fspath(item), item))
            elif isinstance(item, np.ndarray | tf.Tensor):
                items.append((f"images[{i}]", np.asarray(item)))
            else:
                raise InvalidInputTypeError(
                    f"images[{i}]: expected a file path or an image array, got {type(item).__name__}"
                )
        return items
    raise InvalidInputTypeError(
        f"images: expected a path, an image array or a list of them, got {type(images).__name__}"
    )


def load_rgb(name: str, item: Any) -> np.ndarray:
    """Reads or validates one item as float32 [H, W, 3] pixels in [0, 255]."""
    if isinstance(item, str | os.PathLike):
        return read_image(item).astype(np.float32)
    return to_rgb_float32(item, name)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes float32 [H, W, 3] to ``size`` = (height, width); area filter when shrinking."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = image.shape[0] > h or image.shape[1] > w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def _align_raw(
    names: list[str], rgb: list[np.ndarray], embedder: Embedder, on_no_face: str
) -> tuple[list[np.ndarray], list[int]]:
    """Detects and aligns the largest face of each photo; returns crops and missing indices."""
    from facenet_tf.align import align_faces

    crops = align_faces(
        [np.clip(img + 0.5, 0, 255).astype(np.uint8) for img in rgb],
        template=embedder.align_template,
        policy="largest",
    )
    missing = [i for i, crop in enumerate(crops) if crop is None]
    if missing and on_no_face == "raise":
        listed = ", ".join(names[i] for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise NoFaceError(
            f"no face found in {len(missing)} image(s): {listed}{more}. Pass aligned=True for "
            "pre-aligned crops, or on_no_face='whole_image' or 'nan'."
        )
    if missing and on_no_face == "whole_image":
        listed = ", ".join(names[i] for i in missing[:10])
        warnings.warn(
            f"no face found in {len(missing)} image(s) ({listed}); embedded the whole image",
            FaceNotFoundWarning,
            stacklevel=3,
        )
    out = [
        resize_to(crop.astype(np.float32) if crop is not None else img, embedder.input_size)
        for crop, img in zip(crops, rgb, strict=True)
    ]
    return out, missing


def embed(
    images: Any,
    model: str | os.PathLike | keras.Model | None = None,
    batch_size: int = 64,
    aligned: bool = False,
    on_no_face: str = "whole_image",
) -> np.ndarray:
    """Embeds faces as L2-normalised vectors.

    Args:
        images: a file path, an image array ([H, W], [H, W, C]), a batch array
            [N, H, W, C], or a list of paths and arrays. uint8 pixels, or floats in
            [0, 1] (or [0, 255] when any value exceeds 1); C in {1, 3, 4} (gray and RGBA
            are converted). Arrays are RGB.
        model: registered model name, ``.keras`` path or Keras model; None uses the
            default model (``facenet_tf.models.default_model_name()``).
        batch_size: images per forward pass.
        aligned: True when the images are already aligned face crops: they are only
            resized to the model's input. False (default) detects faces in raw photos and
            aligns the largest one to the model's template.
        on_no_face: for raw photos with no detectable face: "whole_image" (default:
            embed the resized whole image and emit a ``FaceNotFoundWarning`` naming
            them), "raise" (``NoFaceError``) or "nan" (a row of NaN).

    Returns:
        float32 [N, D] unit vectors, one row per input image, in input order.

    Raises:
        InvalidInputError / InvalidInputTypeError / ImageReadError: naming the bad item.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
    if on_no_face not in NO_FACE_POLICIES:
        raise InvalidInputError(f"on_no_face must be one of {NO_FACE_POLICIES}, got {on_no_face!r}")
    items = as_image_list(images)
    embedder = get_embedder(model)
    names = [name for name, _ in items]
    rgb = [load_rgb(name, item) for name, item in items]
    missing: list[int] = []
    if aligned:
        crops = [resize_to(img, embedder.input_size) for img in rgb]
    else:
        crops, missing = _align_raw(names, rgb, embedder, on_no_face)
    vectors = embedder.embed_pixels(np.stack(crops).astype(np.float32), batch_size)
    if missing and on_no_face == "nan":
        vectors[missing] = np.nan
    return vectors


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared L2 distance between embeddings (0 = identical, 4 = opposite unit vectors).

    Args:
        a: float [D] or [N, D].
        b: float [D] or [N, D] (broadcast against ``a``).

    Returns:
        float32 scalar or [N].
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape[-1:] != b.shape[-1:]:
        raise InvalidInputError(f"distance: embedding sizes differ: {a.shape} vs {b.shape}")
    diff = a - b
    return np.sum(diff * diff, axis=-1)
