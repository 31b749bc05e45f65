"""Batched inference: models by name, the ``Embedder`` that runs one, and ``embed``.

``embed`` is the library's main entry point. It accepts what users have at hand (file
paths, one image, a batch array, a list of arrays) and hands them to the face pipeline
(``facenet_tf.face_pipeline``), the one place where photos become model inputs. The
``Embedder`` runs the model in a ``tf.function`` whose input signature has a free batch
dimension, so it is traced once per model.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from facenet_tf.align.face_align import DEFAULT_POLICY
from facenet_tf.distances import distance as distance  # public: facenet_tf.distance
from facenet_tf.errors import InvalidInputTypeError, ModelNotFoundError, UntrainedModelError
from facenet_tf.face_pipeline import DEFAULT_FLIP, DEFAULT_NO_FACE, FacePipeline
from facenet_tf.models.registry import default_model_name
from facenet_tf.models.spec import ModelSpec, model_spec, spec_of


class Embedder:
    """A Keras model and its ``ModelSpec`` (input size, template, embedding size).

    Args:
        model: Keras model mapping float32 [N, H, W, 3] pixels in [0, 255] to [N, D].
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.spec: ModelSpec = spec_of(model)
        self.name = self.spec.name
        self.input_size = self.spec.input_size
        self.embedding_dim = self.spec.embedding_dim
        sig = tf.TensorSpec([None, *self.input_size, 3], tf.float32, name="pixels")
        self._forward = tf.function(self._call, input_signature=[sig], reduce_retracing=True)

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
        name_or_path: a name from ``facenet_tf.list_models()`` (its trained weights are
            loaded where it has them) or a path to a ``.keras`` file.

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

    return create_model(text, pretrained=model_spec(text).pretrained_weights)


def get_embedder(
    model: str | os.PathLike | keras.Model | Embedder | None = None,
    *,
    allow_untrained: bool = False,
) -> Embedder:
    """The cached ``Embedder`` for a model name, ``.keras`` path or Keras model.

    Args:
        model: registered name, ``.keras`` path, Keras model or ``Embedder``; None is the
            default model.
        allow_untrained: accept the name of a registered architecture that ships
            without trained weights (its random weights give meaningless vectors; useful
            only for tests and speed measurements). Keras models and ``.keras`` files are
            the caller's own and always accepted.

    Raises:
        UntrainedModelError: an untrained registered model by name, without
            ``allow_untrained``.
    """
    if isinstance(model, Embedder):
        return model
    if isinstance(model, keras.Model):
        return Embedder(model)
    key = os.fspath(model) if model is not None else default_model_name()
    if not isinstance(key, str):
        raise InvalidInputTypeError(f"model: expected a name, path or keras.Model, got {model!r}")
    if not allow_untrained and not key.endswith(".keras") and not Path(key).exists():
        spec = model_spec(key)
        if not spec.pretrained_weights:
            raise UntrainedModelError(
                f"model {key!r} ships without trained weights, so its vectors would not "
                "measure identity; train it (facenet-tf train) and pass the .keras file, or "
                "pass allow_untrained=True to use the random weights anyway"
            )
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Embedder(load_model(key))
        return _CACHE[key]


def embed(
    images: Any,
    model: str | os.PathLike | keras.Model | None = None,
    batch_size: int = 64,
    aligned: bool = False,
    on_no_face: str = DEFAULT_NO_FACE,
    face: str = DEFAULT_POLICY,
    flip: bool = DEFAULT_FLIP,
    allow_untrained: bool = False,
    progress: bool | None = None,
) -> np.ndarray:
    """Embeds faces as L2-normalised vectors, one per input image.

    Args:
        images: a file path, an image array ([H, W], [H, W, C]), a batch array
            [N, H, W, C], or a list of paths and arrays. uint8 pixels, or floats in
            [0, 1] (or [0, 255] when any value exceeds 1); C in {1, 3, 4} (gray and RGBA
            are converted). Arrays are RGB.
        model: registered model name, ``.keras`` path or Keras model; None uses the
            default model (``facenet_tf.default_model_name()``).
        batch_size: crops per forward pass.
        aligned: True when the images are already face crops aligned to the model's
            template: they are only resized to the model's input. False (default)
            detects the faces of raw photos and aligns the one ``face`` picks.
        on_no_face: for raw photos with no detectable face: "raise" (default:
            ``NoFaceError`` naming the photos, with ``.names``), "nan" (a row of NaN,
            which ``verify``, ``identify`` and ``cluster`` refuse, and a
            ``FaceNotFoundWarning`` naming the photos: for batch jobs that go on) or
            "whole_image" (embed the resized whole photo and warn naming it).
        face: which face of a photo: "center_weighted" (default: the largest face
            unless a smaller one is much nearer the image centre), "largest" or
            "most_central". ``FacePipeline.embed_faces`` embeds every face.
        flip: horizontal-flip test-time augmentation (default on): the unit mean of the
            vectors of the crop and of its mirror image.
        allow_untrained: accept a registered architecture without trained weights by
            name (see ``get_embedder``).
        progress: a progress bar on stderr; None (default) shows it for long calls when
            stderr is a terminal, False never.

    Photos are decoded, detected and embedded in chunks, so memory does not grow with
    the number of paths; photos larger than 2048 pixels are detected on a reduced copy
    and cropped at full resolution.

    Returns:
        float32 [N, D] unit vectors, one row per input image, in input order.

    Raises:
        InvalidInputError / InvalidInputTypeError / ImageReadError: naming the bad item.
    """
    pipeline = FacePipeline(
        get_embedder(model, allow_untrained=allow_untrained),
        face=face,
        flip=flip,
        on_no_face=on_no_face,
        batch_size=batch_size,
    )
    return pipeline.embed(images, aligned=aligned, progress=progress)
