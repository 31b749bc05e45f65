"""The face pipeline: the one place where a photo becomes a model input.

photo -> decode/validate -> detect (MTCNN) -> choose the face(s) -> align to the model's
template -> resize to the model's input -> embed -> optional horizontal-flip test-time
augmentation (the unit mean of the embeddings of the crop and of its mirror image).

``facenet_tf.embed``, ``verify``, ``identify``, ``cluster``, the ``facenet-tf`` commands,
the evaluation binary, export parity, training validation, distillation targets and
every benchmark go through ``FacePipeline``; no other code crops faces for a model.
Work is streamed in chunks of ``chunk_size`` photos, so memory does not grow with the
number of inputs (only the [N, D] result does).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import cv2
import numpy as np

from facenet_tf.align.detector import Face
from facenet_tf.align.face_align import (
    DEFAULT_POLICY,
    ONE_FACE_POLICIES,
    crop_face,
    order_faces,
    template_to_template,
)
from facenet_tf.align.templates import get_template
from facenet_tf.align.transform import warp
from facenet_tf.distances import l2_normalize
from facenet_tf.errors import InvalidInputError, NoFaceError
from facenet_tf.io.inputs import as_image_list, load_rgb, load_rgb_uint8, resize_to

# What happens to a raw photo with no detectable face. The default never produces a
# vector for a face that was not found: "raise" names the photos; "nan" marks their rows
# (and warns naming them) so batch jobs go on; "whole_image" is the opt-in fallback.
NO_FACE_POLICIES = ("raise", "nan", "whole_image")
DEFAULT_NO_FACE = "raise"
# Photos whose longer side exceeds this are detected on a copy scaled down to it (area
# filter); landmarks are mapped back and the crop is cut from the full-resolution photo.
# Faces under about 20 px at that scale (100 px in a 10,000 px photo) are then missed.
MAX_DETECTION_SIDE = 2048
# Decoded pixels held at a time (besides the photo being decoded): bounds memory when
# photos are large, whatever chunk_size says.
CHUNK_PIXELS = 64_000_000
# ``embed`` shows a progress bar (on a terminal) for calls of more photos than this.
PROGRESS_MIN_PHOTOS = 256
# Flip test-time augmentation is on by default: on LFW view-1 DevTrain it raises the
# default model's accuracy (see docs/models/dlib_resnet_v1.md) for one extra forward
# pass of the crop, a small share of the detection cost.
DEFAULT_FLIP = True
# Chunks that ``embed`` decodes, detects and crops ahead of the one being embedded, in a
# background thread: TensorFlow's kernels and the image decoders release the GIL, so the
# detection of chunk i + 1 and the embedding of chunk i keep both cores busy. 0: one
# chunk at a time. Memory: this many chunks of crops more (photos are dropped once cut).
PREFETCH_CHUNKS = 1

_T = TypeVar("_T")


class TemplateUnknownWarning(UserWarning):
    """Aligned crop files record no alignment template, so whether they fit the model
    cannot be checked (the message names them)."""


class FaceNotFoundWarning(UserWarning):
    """Some raw photos had no detectable face (the message names them); their rows are NaN
    (``on_no_face="nan"``) or whole-image vectors (``on_no_face="whole_image"``)."""


@dataclasses.dataclass(frozen=True)
class Crops:
    """Model inputs for a list of photos.

    Attributes:
        pixels: float32 [N, H, W, 3] RGB in [0, 255] at the model's input size.
        names: N names (file paths, or ``images[i]``) for messages.
        no_face: bool [N], True where no face was found and the whole image was used.
    """

    pixels: np.ndarray
    names: list[str]
    no_face: np.ndarray


@dataclasses.dataclass(frozen=True)
class FaceEmbedding:
    """One detected face of one photo, embedded.

    Attributes:
        image: index of the photo in the call's input.
        name: its name (file path or ``images[i]``).
        face_index: 0 for the face a one-face call would use, then by decreasing score.
        box: (x1, y1, x2, y2) in the photo's pixels.
        score: detector confidence.
        landmarks: float64 [5, 2] (x, y) of the eyes, nose and mouth corners.
        embedding: float32 [D] unit vector.
    """

    image: int
    name: str
    face_index: int
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    embedding: np.ndarray


class FacePipeline:
    """Detect, choose, align, resize, embed (and flip-average) faces for one model.

    Args:
        model: registered name, ``.keras`` path, Keras model or ``Embedder``; None uses
            the default model.
        face: which face of a photo is embedded: "center_weighted" (default: box area
            minus twice the squared distance of its centre from the image centre),
            "largest" or "most_central". ``embed_faces`` embeds every face.
        flip: average each embedding with that of the mirrored crop (renormalised).
        on_no_face: for a raw photo with no detectable face: "raise" (default:
            ``NoFaceError`` naming the photos), "nan" (a row of NaN and a warning naming
            the photos) or "whole_image" (embed the resized photo and warn naming it).
        template: alignment template of the model's crops; default the model's own
            (required for an unregistered model).
        batch_size: crops per forward pass.
        chunk_size: photos decoded and detected at a time (bounds memory).
        detector: an ``MTCNNDetector``; default the shared one.
        allow_untrained: accept a registered architecture without trained weights by
            name (``facenet_tf.inference.get_embedder``).
    """

    def __init__(
        self,
        model: Any = None,
        *,
        face: str = DEFAULT_POLICY,
        flip: bool = DEFAULT_FLIP,
        on_no_face: str = DEFAULT_NO_FACE,
        template: str | None = None,
        batch_size: int = 64,
        chunk_size: int = 64,
        detector: Any = None,
        allow_untrained: bool = False,
    ):
        from facenet_tf.inference import get_embedder

        if face not in ONE_FACE_POLICIES:
            raise InvalidInputError(
                f"face must be one of {ONE_FACE_POLICIES}, got {face!r} "
                "(embed_faces embeds every face of a photo)"
            )
        if on_no_face not in NO_FACE_POLICIES:
            raise InvalidInputError(
                f"on_no_face must be one of {NO_FACE_POLICIES}, got {on_no_face!r}"
            )
        for arg, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{arg} must be a positive int, got {value!r}")
        if not isinstance(flip, bool):
            raise InvalidInputError(f"flip must be True or False, got {flip!r}")
        self.embedder = get_embedder(model, allow_untrained=allow_untrained)
        self.spec = self.embedder.spec
        self.template = template or self.spec.template
        if self.template is not None:
            get_template(self.template)
        self.face = face
        self.flip = flip
        self.on_no_face = on_no_face
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self._detector = detector

    # --- photo -> crops -------------------------------------------------------------

    @property
    def detector(self):
        if self._detector is None:
            from facenet_tf.align.detector import default_detector

            self._detector = default_detector()
        return self._detector

    def _require_template(self) -> str:
        if self.template is None:
            raise InvalidInputError(
                f"model {self.spec.name!r} is not registered, so its alignment template is "
                "unknown: pass template=... (e.g. 'facenet_160') or aligned crops"
            )
        return self.template

    def _face_crop(self, image: np.ndarray, face) -> np.ndarray:
        side = get_template(self._require_template()).size
        crop = crop_face(image, face, self.template, image_size=side)
        return resize_to(crop.astype(np.float32), self.spec.input_size)

    def _detect(self, images: list[np.ndarray]) -> list[list]:
        """Faces of uint8 photos, in full-resolution pixels (large photos are detected on
        a copy whose longer side is ``MAX_DETECTION_SIDE``)."""
        small, scales = [], []
        for img in images:
            scale = MAX_DETECTION_SIDE / max(img.shape[:2])
            if scale < 1.0:
                h, w = img.shape[:2]
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                small.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
                scales.append((w / size[0], h / size[1]))
            else:
                small.append(img)
                scales.append(None)
        found = self.detector.detect_faces(small)
        return [
            faces if s is None else [_rescale(f, *s) for f in faces]
            for faces, s in zip(found, scales, strict=True)
        ]

    def crops(
        self,
        images: Any,
        *,
        aligned: bool = False,
        source_template: str | None = None,
        names: list[str] | None = None,
    ) -> Crops:
        """The model inputs for ``images`` (one crop per photo).

        Args:
            images: as in ``facenet_tf.embed``.
            aligned: the images are aligned face crops (no detection).
            source_template: template the aligned crops were made with (square crops of
                any side): they are warped onto the model's template by the similarity
                between the two templates. None: they are already the model's crops and
                are only resized.
            names: what messages call the images (default: their paths, or
                ``images[i]`` for arrays).

        Returns:
            ``Crops`` in input order.
        """
        items = self._named_items(images, names)
        if aligned:
            self._check_templates(items, source_template)
        load = load_rgb if aligned else load_rgb_uint8
        rgb = [load(name, item) for name, item in items]
        return self._crops([name for name, _ in items], rgb, aligned, source_template)

    def _crops(
        self,
        names: list[str],
        rgb: list[np.ndarray],
        aligned: bool,
        source_template: str | None,
    ) -> Crops:
        """``rgb``: float32 aligned crops, or uint8 photos when not ``aligned``. Faceless
        photos are reported (``on_no_face``)."""
        crops = self._detect_crops(names, rgb, aligned, source_template)
        self._report_no_face(names, crops.no_face, stacklevel=4)
        return crops

    def _detect_crops(
        self,
        names: list[str],
        rgb: list[np.ndarray],
        aligned: bool,
        source_template: str | None,
    ) -> Crops:
        """``_crops`` without reporting faceless photos (the caller reports them)."""
        size = self.spec.input_size
        no_face = np.zeros(len(rgb), bool)
        if aligned:
            if source_template is not None:
                rgb = [
                    self._rewarp(img, source_template, name)
                    for img, name in zip(rgb, names, strict=True)
                ]
            pixels = [resize_to(img, size) for img in rgb]
        else:
            found = self._detect(rgb)
            pixels = []
            for i, (img, faces) in enumerate(zip(rgb, found, strict=True)):
                if faces:
                    face = order_faces(faces, img.shape, self.face)[0]
                    pixels.append(self._face_crop(img, face))
                else:
                    no_face[i] = True
                    pixels.append(resize_to(img.astype(np.float32), size))
        stacked = (
            np.stack(pixels).astype(np.float32) if pixels else np.zeros((0, *size, 3), np.float32)
        )
        return Crops(stacked, names, no_face)

    def _rewarp(self, image: np.ndarray, source_template: str, name: str) -> np.ndarray:
        self._require_template()
        h, w = image.shape[:2]
        if h != w:
            raise InvalidInputError(
                f"{name}: aligned crops must be square to change template, got {w}x{h}"
            )
        # Straight to the model's input where it is square (one resampling, as a face
        # crop would be cut), else to the template's side and then resized.
        height, width = self.spec.input_size
        side = height if height == width else get_template(self.template).size
        matrix = template_to_template(source_template, h, self.template, side)
        return warp(image, matrix, side)

    def _report_no_face(self, names: list[str], no_face: np.ndarray, stacklevel: int) -> None:
        """Raises ``NoFaceError`` or warns (``on_no_face``) naming the faceless photos;
        ``stacklevel`` as in ``warnings.warn``, counted from here."""
        if not no_face.any():
            return
        missing = [names[i] for i in np.flatnonzero(no_face)]
        listed = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        if self.on_no_face == "raise":
            raise NoFaceError(
                f"no face found in {len(missing)} image(s): {listed}. Pass aligned=True for "
                "pre-aligned crops, on_no_face='nan' to mark them with NaN rows and go on, "
                "or on_no_face='whole_image' to embed the whole photos.",
                names=tuple(missing),
            )
        what = "their rows are NaN" if self.on_no_face == "nan" else "embedded the whole image"
        warnings.warn(
            f"no face found in {len(missing)} image(s) ({listed}); {what}",
            FaceNotFoundWarning,
            stacklevel=stacklevel,
        )

    # --- crops -> vectors -----------------------------------------------------------

    def embed_crops(self, pixels: np.ndarray) -> np.ndarray:
        """Embeds model inputs: float32 [N, H, W, 3] in [0, 255] -> float32 [N, D] unit rows.

        With ``flip`` the result is the unit mean of the crop's and its mirror's vectors.
        """
        pixels = np.asarray(pixels, np.float32)
        vectors = self.embedder.embed_pixels(pixels, self.batch_size)
        if self.flip and len(pixels):
            mirrored = self.embedder.embed_pixels(pixels[:, :, ::-1], self.batch_size)
            vectors = l2_normalize(vectors + mirrored).astype(np.float32)
        return vectors

    @staticmethod
    def _named_items(images: Any, names: list[str] | None) -> list[tuple[str, Any]]:
        items = as_image_list(images)
        if names is None:
            return items
        if len(names) != len(items):
            raise InvalidInputError(f"names: {len(names)} names for {len(items)} images")
        return [(str(n), item) for n, (_, item) in zip(names, items, strict=True)]

    def _check_templates(
        self, items: list[tuple[str, Any]], source_template: str | None, stacklevel: int = 4
    ) -> None:
        """Aligned crop files must record the template they are taken for (the model's, or
        ``source_template``); a file recording another raises ``TemplateMismatchError``,
        files recording none are named in a ``TemplateUnknownWarning`` (``stacklevel`` as
        in ``warnings.warn``, counted from here). Arrays carry no record: their template
        is the caller's responsibility."""
        from facenet_tf.align.provenance import check_templates

        expected = source_template or self.template
        paths = [item for _, item in items if isinstance(item, str | os.PathLike)]
        if not paths or expected is None:
            return
        unknown = check_templates(paths, expected)
        if unknown:
            listed = ", ".join(unknown[:10]) + (
                f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            )
            warnings.warn(
                f"{len(unknown)} aligned crop file(s) record no alignment template, so they "
                f"cannot be checked against {expected!r}: {listed} (crops written by "
                "facenet-tf align record it)",
                TemplateUnknownWarning,
                stacklevel=stacklevel,
            )

    def _chunks(
        self, items: list[tuple[str, Any]], aligned: bool
    ) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        """(names, images) in chunks of at most ``chunk_size`` photos and about
        ``CHUNK_PIXELS`` pixels: memory stays bounded however many photos come. Images
        are uint8 photos, or float32 crops when ``aligned`` (whose templates the caller
        has checked)."""
        load = load_rgb if aligned else load_rgb_uint8
        chunk_names: list[str] = []
        chunk: list[np.ndarray] = []
        pixels = 0
        for name, item in items:
            image = load(name, item)
            chunk_names.append(name)
            chunk.append(image)
            pixels += image.shape[0] * image.shape[1]
            if len(chunk) >= self.chunk_size or pixels >= CHUNK_PIXELS:
                yield chunk_names, chunk
                chunk_names, chunk, pixels = [], [], 0
        if chunk:
            yield chunk_names, chunk

    def embed(
        self,
        images: Any,
        *,
        aligned: bool = False,
        source_template: str | None = None,
        names: list[str] | None = None,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Embeds one face per photo (see ``facenet_tf.embed``; ``names`` as in ``crops``).

        Args:
            progress: a progress bar on stderr; None shows one for calls of more than
                ``PROGRESS_MIN_PHOTOS`` photos when stderr is a terminal.

        Returns:
            float32 [N, D] unit vectors (NaN rows for faceless photos under
            ``on_no_face="nan"``).
        """
        import sys

        from tqdm import tqdm

        items = self._named_items(images, names)
        if progress is None:
            progress = len(items) > PROGRESS_MIN_PHOTOS and sys.stderr.isatty()
        bar = tqdm(total=len(items), unit="photo", disable=not progress, file=sys.stderr)
        if aligned:
            self._check_templates(items, source_template, stacklevel=3)
        # Decoding, detection and cropping run ahead in the background; reports, errors
        # and the embedding itself stay on the caller's thread, in input order.
        chunks = _in_background(
            (
                self._detect_crops(chunk_names, rgb, aligned, source_template)
                for chunk_names, rgb in self._chunks(items, aligned)
            ),
            PREFETCH_CHUNKS,
        )
        out = []
        try:
            for crops in chunks:
                self._report_no_face(crops.names, crops.no_face, stacklevel=3)
                vectors = self.embed_crops(crops.pixels)
                if self.on_no_face == "nan" and crops.no_face.any():
                    vectors[crops.no_face] = np.nan
                out.append(vectors)
                bar.update(len(crops.names))
        finally:
            chunks.close()
            bar.close()
        return np.concatenate(out) if out else np.zeros((0, self.spec.embedding_dim), np.float32)

    def face_crops(
        self, images: list[np.ndarray], max_faces: int | None = None
    ) -> list[list[tuple[Face, np.ndarray]]]:
        """Every detected face of decoded photos with its model input, not embedded (for
        callers that batch the model themselves, e.g. a Beam pipeline).

        Args:
            images: uint8 [H, W, 3] RGB photos (``facenet_tf.io.images.decode_image``).
            max_faces: keep at most this many faces per photo (1: the face ``embed``
                uses); None keeps all.

        Returns:
            Per photo, (face, float32 [H, W, 3] crop) pairs in ``embed_faces`` order: face
            0 is the face ``embed`` uses, the others follow by decreasing score.
        """
        found = self._detect(images)
        out = []
        for img, faces in zip(images, found, strict=True):
            ordered = order_faces(faces, img.shape, self.face)[:max_faces]
            out.append([(f, self._face_crop(img, f)) for f in ordered])
        return out

    def embed_faces(self, images: Any) -> list[list[FaceEmbedding]]:
        """Embeds every detected face of every photo.

        Returns:
            One list per photo (empty when no face was found); within it face 0 is the
            face ``embed`` uses for that photo, the others follow by decreasing score.
        """
        result: list[list[FaceEmbedding]] = []
        for names, rgb in self._chunks(self._named_items(images, None), aligned=False):
            found = self._detect(rgb)
            faces = [
                order_faces(f, img.shape, self.face) for img, f in zip(rgb, found, strict=True)
            ]
            flat = [(i, k, f) for i, fs in enumerate(faces) for k, f in enumerate(fs)]
            pixels = [self._face_crop(rgb[i], f) for i, _, f in flat]
            vectors = (
                self.embed_crops(np.stack(pixels))
                if pixels
                else np.zeros((0, self.spec.embedding_dim))
            )
            per_image: list[list[FaceEmbedding]] = [[] for _ in names]
            for (i, k, f), v in zip(flat, vectors, strict=True):
                per_image[i].append(
                    FaceEmbedding(
                        len(result) + i, names[i], k, tuple(f.box), float(f.score), f.landmarks, v
                    )
                )
            result.extend(per_image)
        return result

    def __repr__(self) -> str:
        return (
            f"FacePipeline(model={self.spec.name!r}, template={self.template!r}, "
            f"face={self.face!r}, flip={self.flip}, on_no_face={self.on_no_face!r})"
        )


def _in_background(items: Iterable[_T], depth: int) -> Iterator[_T]:
    """What ``items`` yields, in order, computed up to ``depth`` items ahead in a thread.

    An exception raised by ``items`` is raised here when its turn comes. Closing the
    generator (or an exception in the consumer) stops the thread after the item in
    progress and waits for it, so no work outlives the call. ``depth`` 0: no thread.
    """
    if depth < 1:
        yield from items
        return
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as err:  # handed to the consumer, raised there
            put((None, err))

    worker = threading.Thread(target=produce, name="face-pipeline-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, err = slots.get()
            if err is not None:
                raise err
            if item is end:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _rescale(face: Face, sx: float, sy: float) -> Face:
    """A detection on a scaled copy, in the original photo's pixels."""
    x1, y1, x2, y2 = face.box
    # Pixel centres: copy pixel u covers original pixels around (u + 0.5) * s - 0.5.
    points = (face.landmarks + 0.5) * np.array([sx, sy]) - 0.5
    box = (
        (x1 + 0.5) * sx - 0.5,
        (y1 + 0.5) * sy - 0.5,
        (x2 + 0.5) * sx - 0.5,
        (y2 + 0.5) * sy - 0.5,
    )
    return Face(box, face.score, points)


def describe(pipeline: FacePipeline) -> dict[str, Any]:
    """The pipeline's settings as a JSON-ready dict (for reports and threshold files)."""
    return {
        "model": pipeline.spec.name,
        "template": pipeline.template,
        "input_size": list(pipeline.spec.input_size),
        "face": pipeline.face,
        "flip": pipeline.flip,
        "on_no_face": pipeline.on_no_face,
        "detector": "mtcnn",
    }
