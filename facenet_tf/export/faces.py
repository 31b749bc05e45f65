"""Real faces as exported-model inputs, made by the face pipeline and nothing else.

Calibration faces, parity faces and the LFW images of thresholds all become model inputs
through ``facenet_tf.face_pipeline.FacePipeline`` (MTCNN detection, the model's alignment
template, resize to its input), exactly the crops ``facenet_tf.embed`` feeds the model,
then rounded to the uint8 pixels an exported artefact takes. The pipeline of export is
``export_pipeline``: the exported model's own spec and no flip averaging (an exported
artefact embeds one crop; mirroring is the caller's choice).

A photo without a detectable face gets the pipeline's ``on_no_face="whole_image"`` input
(the resized whole photo) so that rows stay aligned with paths; ``face_inputs`` names
those photos. int8 calibration drops them (``facenet_tf.export.tflite.representative_faces``);
evaluations keep them, as ``facenet_tf.embed`` does.

The non-LFW face source is CelebA's aligned crops (``celeba/aligned_178x218``): people
chosen to exclude LFW's, used for int8 calibration and the cosine-to-Keras checks.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike
CELEBA_ALIGNED = "celeba/aligned_178x218"
# Photos decoded and detected at a time (bounds memory; the result is uint8).
CHUNK = 256


def sample_paths(
    paths: Sequence[Path], count: int, *, offset: int = 0, seed: int = 0
) -> list[Path]:
    """A deterministic shuffled slice ``[offset, offset + count)`` of ``paths``.

    Different offsets with the same seed give disjoint samples (e.g. calibration faces
    and evaluation faces).
    """
    order = list(paths)
    random.Random(seed).shuffle(order)
    if offset + count > len(order):
        raise InvalidInputError(
            f"asked for images {offset}..{offset + count} but only {len(order)} are available"
        )
    return order[offset : offset + count]


def export_pipeline(model: Any, *, template: str | None = None):
    """The ``FacePipeline`` that makes the inputs of an exported ``model``: its own spec,
    ``flip=False``, whole image for a photo without a face.

    Args:
        model: an ``ExportModel``, a Keras model, a registered name or a ``.keras`` path.
        template: alignment template for a model the registry does not know.

    Raises:
        InvalidInputError: the model is not registered and no template was given.
    """
    from facenet_tf.face_pipeline import FacePipeline

    keras_model = getattr(model, "model", model)
    pipeline = FacePipeline(keras_model, flip=False, on_no_face="whole_image", template=template)
    if pipeline.template is None:
        raise InvalidInputError(
            f"model {pipeline.spec.name!r} is not registered, so the template its faces are "
            "aligned to is unknown: export a registered model (a name, or a .keras file of a "
            "registered architecture under its registry name), or pass template=... / "
            "--template (e.g. facenet_160)"
        )
    return pipeline


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Pipeline pixels (float32 in [0, 255]) rounded to the uint8 an exported model takes."""
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def face_inputs(paths: Sequence[PathLike], pipeline) -> tuple[np.ndarray, list[str]]:
    """The exported-model inputs of photos: ``pipeline.crops`` rounded to uint8.

    Args:
        paths: image files (raw photos; faces are detected and aligned).
        pipeline: a ``FacePipeline``, normally ``export_pipeline(model)``.

    Returns:
        (uint8 [N, H, W, 3] RGB inputs in the order of ``paths``, the paths in which no
        face was found: their row is the resized whole photo).
    """
    from facenet_tf.face_pipeline import FaceNotFoundWarning

    names = [os.fspath(p) for p in paths]
    chunks, missing = [], []
    for start in range(0, len(names), CHUNK):
        with warnings.catch_warnings():
            # Reported through the return value instead, once for all chunks.
            warnings.simplefilter("ignore", FaceNotFoundWarning)
            crops = pipeline.crops(names[start : start + CHUNK])
        chunks.append(to_uint8(crops.pixels))
        missing += [names[start + i] for i in np.flatnonzero(crops.no_face)]
    if not chunks:
        return np.zeros((0, *pipeline.spec.input_size, 3), np.uint8), []
    return np.concatenate(chunks), missing
