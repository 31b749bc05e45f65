"""The per-element steps of the bulk-embed pipeline, as Beam DoFns and functions.

read bytes -> decode (``facenet_tf.io.images.decode_image``, the hardened reader) ->
detect + align a batch of photos (``FacePipeline.face_crops``) -> embed the crops
(``FacePipeline.embed_crops`` inside Beam's ``RunInference``) -> a record dict.

Every step is a pure function of its input (no random state, no clocks), so a retried
bundle or another runner gives the same records. Photos that give no record leave as a
failure dict (path, reason, kind) on the ``FAILURES`` output; nothing is dropped.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import PredictionResult

import facenet_tf.models  # noqa: F401  (registers the custom layers before any .keras load)
from facenet_tf.data import embeddings_io as schema
from facenet_tf.errors import ImageReadError, ImageTooLargeError

NAMESPACE = "facenet_tf.bulk_embed"
FAILURES = "failures"
# Failure kinds (the "kind" of a failure record and the counter failures_<kind>).
UNREADABLE, NO_FACE, TOO_SMALL, TOO_LARGE = "unreadable", "no face", "too small", "too large"
# Detection or alignment raised on this photo (the exception is the reason).
ERROR = "error"
KINDS = (UNREADABLE, NO_FACE, TOO_SMALL, TOO_LARGE, ERROR)
# Files above this size are not read into memory (no photo needs 256 MiB).
MAX_FILE_BYTES = 256 * 2**20


class FaceKey(NamedTuple):
    """What a record says besides its embedding; the key through ``RunInference``.

    Attributes:
        path: the photo, as matched.
        face_index: 0 for the face ``facenet_tf.embed(path)`` uses, then by score.
        box: (x1, y1, x2, y2) in the photo's pixels.
        landmarks: 10 floats, (x, y) of the five points.
        score: detector confidence.
    """

    path: str
    face_index: int
    box: tuple[float, ...]
    landmarks: tuple[float, ...]
    score: float


def failure(path: str, reason: str, kind: str) -> beam.pvalue.TaggedOutput:
    """A failure record on the ``FAILURES`` output, counted as ``failures_<kind>``."""
    beam.metrics.Metrics.counter(NAMESPACE, f"failures_{kind.replace(' ', '_')}").inc()
    return beam.pvalue.TaggedOutput(FAILURES, {"path": path, "reason": reason, "kind": kind})


# --- one model per process, shared by its threads ----------------------------------------

_PIPELINES: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def shared_pipeline(model: Any, face: str, flip: bool, batch_size: int):
    """The process's ``FacePipeline`` for a model (a ``.keras`` URI, or a Keras model that
    ``RunInference`` loaded), built once and shared by the process's threads."""
    from facenet_tf.face_pipeline import FacePipeline

    key = (model if isinstance(model, str) else id(model), face, flip, batch_size)
    with _LOCK:
        if key not in _PIPELINES:
            if isinstance(model, str):
                import keras

                model = keras.saving.load_model(model, compile=False)
            _PIPELINES[key] = FacePipeline(
                model, face=face, flip=flip, batch_size=batch_size, on_no_face="nan"
            )
        return _PIPELINES[key]


# --- the steps -----------------------------------------------------------------------


class ReadAndDecode(beam.DoFn):
    """(path, size in bytes) -> (path, uint8 [H, W, 3] RGB photo), or a failure."""

    def process(self, item: tuple[str, int]):
        path, size = item
        beam.metrics.Metrics.counter(NAMESPACE, "photos").inc()
        if size > MAX_FILE_BYTES:
            yield failure(path, f"{path}: file of {size} bytes (limit {MAX_FILE_BYTES})", TOO_LARGE)
            return
        try:
            f = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
            with f:
                data = f.read()
        except (OSError, ValueError) as err:  # Beam wraps some OSErrors in BeamIOError
            yield failure(path, f"{path}: cannot read ({err})", UNREADABLE)
            return
        from facenet_tf.io.images import decode_image

        try:
            image = decode_image(data, path)
        except ImageTooLargeError as err:
            yield failure(path, str(err), TOO_LARGE)
        except ImageReadError as err:
            yield failure(path, str(err), UNREADABLE)
        else:
            yield path, image


class DetectAndAlign(beam.DoFn):
    """A batch of (path, photo) -> ((FaceKey, float32 [H, W, 3] crop) per face), or a
    failure per photo without a face (or too small to hold one).

    Args:
        model_uri: the ``.keras`` file (its spec gives the template and input size).
        face: the one-face policy that orders faces (face 0 = ``embed``'s face).
        max_faces: 1 for ``--faces=one``, None for every face.
    """

    def __init__(self, model_uri: str, face: str, max_faces: int | None):
        self.model_uri = model_uri
        self.face = face
        self.max_faces = max_faces

    def setup(self):
        self.pipeline = shared_pipeline(self.model_uri, self.face, False, 64)

    def process(self, batch: list[tuple[str, np.ndarray]]):
        smallest = self.pipeline.detector.min_face_size
        kept = []
        for path, image in batch:
            h, w = image.shape[:2]
            if min(h, w) < smallest:
                reason = (
                    f"{path}: {w}x{h} photo is smaller than the smallest face ({smallest:g} px)"
                )
                yield failure(path, reason, TOO_SMALL)
            else:
                kept.append((path, image))
        if not kept:
            return
        from facenet_tf.cli_lib import NO_FACE as NO_FACE_REASON

        for path, faces in self._face_crops(kept):
            if isinstance(faces, Exception):
                yield failure(path, f"{path}: {type(faces).__name__}: {faces}", ERROR)
                continue
            if not faces:
                yield failure(path, f"{path}: {NO_FACE_REASON}", NO_FACE)
                continue
            for k, (f, crop) in enumerate(faces):
                beam.metrics.Metrics.counter(NAMESPACE, "faces").inc()
                key = FaceKey(
                    path,
                    k,
                    tuple(float(v) for v in f.box),
                    tuple(float(v) for v in np.asarray(f.landmarks).reshape(-1)),
                    float(f.score),
                )
                yield key, crop

    def _face_crops(self, kept: list[tuple[str, np.ndarray]]):
        """(path, faces) per photo; one photo that breaks detection must not fail the
        batch (Beam would retry it, then fail the job): the batch is retried photo by
        photo, and a photo that fails alone gets its exception in place of its faces."""
        try:
            crops = self.pipeline.face_crops([img for _, img in kept], self.max_faces)
            return list(zip((p for p, _ in kept), crops, strict=True))
        except MemoryError:
            raise
        except Exception:
            pass
        out = []
        for path, image in kept:
            try:
                out.append((path, self.pipeline.face_crops([image], self.max_faces)[0]))
            except MemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - recorded as the photo's failure
                out.append((path, err))
        return out


def embed_batch(
    model: Any,
    batch: list[np.ndarray],
    inference_args: dict[str, Any] | None = None,
    model_id: str | None = None,
    *,
    face: str,
    flip: bool,
    batch_size: int,
) -> list[PredictionResult]:
    """``inference_fn`` of Beam's ``TFModelHandlerTensor``: crops -> unit embeddings by
    ``FacePipeline.embed_crops`` (flip test-time augmentation exactly as ``embed``)."""
    pipeline = shared_pipeline(model, face, flip, batch_size)
    vectors = pipeline.embed_crops(np.stack(batch))
    return [PredictionResult(x, v, model_id) for x, v in zip(batch, vectors, strict=True)]


def to_record(item: tuple[FaceKey, PredictionResult], model_name: str) -> dict[str, Any]:
    """(FaceKey, prediction) -> a record dict with the keys of ``embeddings_io.FEATURES``."""
    key, prediction = item
    return {
        schema.PATH: key.path,
        schema.FACE_INDEX: int(key.face_index),
        schema.BOX: list(key.box),
        schema.LANDMARKS: list(key.landmarks),
        schema.SCORE: float(key.score),
        schema.EMBEDDING: [float(v) for v in np.asarray(prediction.inference, np.float32)],
        schema.MODEL: model_name,
    }


def photo_pixels(item: tuple[str, np.ndarray]) -> int:
    """A decoded photo's weight when batching photos for detection: its pixel count."""
    return int(item[1].shape[0] * item[1].shape[1])
