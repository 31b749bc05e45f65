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
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

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
from facenet_tf.io.inputs import as_image_list, load_rgb, resize_to

# What happens to a raw photo with no detectable face.
NO_FACE_POLICIES = ("whole_image", "raise", "nan")
DEFAULT_NO_FACE = "whole_image"
# Flip test-time augmentation is on by default: on LFW view-1 DevTrain it raises the
# default model's accuracy (see docs/models/dlib_resnet_v1.md) for one extra forward
# pass of the crop, a small share of the detection cost.
DEFAULT_FLIP = True


class FaceNotFoundWarning(UserWarning):
    """Some raw photos had no detectable face; they were embedded as whole images."""


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
        on_no_face: for a raw photo with no detectable face: "whole_image" (embed the
            resized photo and warn naming it), "raise" (``NoFaceError`` naming the
            photos) or "nan" (a row of NaN).
        template: alignment template of the model's crops; default the model's own
            (required for an unregistered model).
        batch_size: crops per forward pass.
        chunk_size: photos decoded and detected at a time (bounds memory).
        detector: an ``MTCNNDetector``; default the shared one.
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
        chunk_size: int = 256,
        detector: Any = None,
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
        self.embedder = get_embedder(model)
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

    def _detect(self, rgb: list[np.ndarray]) -> tuple[list[np.ndarray], list[list]]:
        uint8 = [np.clip(img + 0.5, 0, 255).astype(np.uint8) for img in rgb]
        return uint8, self.detector.detect_faces(uint8)

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
        rgb = [load_rgb(name, item) for name, item in items]
        return self._crops([name for name, _ in items], rgb, aligned, source_template)

    def _crops(
        self,
        names: list[str],
        rgb: list[np.ndarray],
        aligned: bool,
        source_template: str | None,
    ) -> Crops:
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
            uint8, found = self._detect(rgb)
            pixels = []
            for i, (img, faces) in enumerate(zip(uint8, found, strict=True)):
                if faces:
                    face = order_faces(faces, img.shape, self.face)[0]
                    pixels.append(self._face_crop(img, face))
                else:
                    no_face[i] = True
                    pixels.append(resize_to(rgb[i], size))
            self._report_no_face(names, no_face)
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
        side = get_template(self.template).size
        matrix = template_to_template(source_template, h, self.template, side)
        return warp(image, matrix, side)

    def _report_no_face(self, names: list[str], no_face: np.ndarray) -> None:
        if not no_face.any():
            return
        missing = [names[i] for i in np.flatnonzero(no_face)]
        listed = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        if self.on_no_face == "raise":
            raise NoFaceError(
                f"no face found in {len(missing)} image(s): {listed}. Pass aligned=True for "
                "pre-aligned crops, or on_no_face='whole_image' or 'nan'."
            )
        if self.on_no_face == "whole_image":
            warnings.warn(
                f"no face found in {len(missing)} image(s) ({listed}); embedded the whole image",
                FaceNotFoundWarning,
                stacklevel=4,
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

    def _chunks(
        self, images: Any, names: list[str] | None
    ) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        """(names, float32 RGB images) in chunks of ``chunk_size``: bounded memory."""
        items = self._named_items(images, names)
        for start in range(0, len(items), self.chunk_size):
            part = items[start : start + self.chunk_size]
            yield [n for n, _ in part], [load_rgb(n, item) for n, item in part]

    def embed(
        self,
        images: Any,
        *,
        aligned: bool = False,
        source_template: str | None = None,
        names: list[str] | None = None,
    ) -> np.ndarray:
        """Embeds one face per photo (see ``facenet_tf.embed``; ``names`` as in ``crops``).

        Returns:
            float32 [N, D] unit vectors (NaN rows for faceless photos under
            ``on_no_face="nan"``).
        """
        out = []
        for chunk_names, rgb in self._chunks(images, names):
            crops = self._crops(chunk_names, rgb, aligned, source_template)
            vectors = self.embed_crops(crops.pixels)
            if self.on_no_face == "nan" and crops.no_face.any():
                vectors[crops.no_face] = np.nan
            out.append(vectors)
        return np.concatenate(out) if out else np.zeros((0, self.spec.embedding_dim), np.float32)

    def embed_faces(self, images: Any) -> list[list[FaceEmbedding]]:
        """Embeds every detected face of every photo.

        Returns:
            One list per photo (empty when no face was found); within it face 0 is the
            face ``embed`` uses for that photo, the others follow by decreasing score.
        """
        result: list[list[FaceEmbedding]] = []
        for names, rgb in self._chunks(images, None):
            uint8, found = self._detect(rgb)
            faces = [
                order_faces(f, img.shape, self.face) for img, f in zip(uint8, found, strict=True)
            ]
            flat = [(i, k, f) for i, fs in enumerate(faces) for k, f in enumerate(fs)]
            pixels = [self._face_crop(uint8[i], f) for i, _, f in flat]
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


def pipeline_for(
    model: str | os.PathLike | keras.Model | None = None, **options: Any
) -> FacePipeline:
    """A ``FacePipeline`` for ``model`` with ``options`` (see ``FacePipeline``)."""
    if isinstance(model, FacePipeline):
        if options:
            raise InvalidInputError("pass options when building the FacePipeline, not with it")
        return model
    return FacePipeline(model, **options)


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
