"""Face alignment: detect, pick faces by policy, and warp them to a template crop.

Two crop modes:
  * a template name (``"facenet_160"``, ``"dlib_150"``, ``"mobile_112"``): least-squares
    similarity transform from the 5 MTCNN landmarks to the template (rotation, uniform
    scale, translation);
  * ``"margin"``: the detector box plus a margin, scale and translation only (the
    FaceNet paper's protocol), see ``transform.margin_box_transform``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facenet_tf.align.detector import (
    LANDMARK_NAMES,
    Face,
    MTCNNDetector,
    as_rgb_image,
    default_detector,
)
from facenet_tf.align.templates import MARGIN_MODE, get_template
from facenet_tf.align.transform import margin_box_transform, umeyama, warp
from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.face_choice import CENTER_WEIGHT, DEFAULT_POLICY, ONE_FACE_POLICIES, POLICIES

DEFAULT_MARGIN_SIZE = 160
DEFAULT_MARGIN = 32.0


def _check_options(template: str, image_size: int | None, margin: float | None) -> int:
    """Validates the crop options; returns the output side in pixels."""
    if template == MARGIN_MODE:
        size = DEFAULT_MARGIN_SIZE if image_size is None else image_size
        if margin is not None and margin < 0:
            raise InvalidInputError(f"margin must be >= 0 pixels, got {margin}")
    else:
        if margin is not None:
            raise InvalidInputError(
                f"margin applies to template={MARGIN_MODE!r} only, not {template!r}"
            )
        size = get_template(template).size if image_size is None else image_size
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise InvalidInputError(f"image_size must be an integer >= 8, got {size!r}")
    return int(size)


def crop_face(
    image: np.ndarray,
    face: Face | dict[str, Any],
    template: str = "facenet_160",
    *,
    image_size: int | None = None,
    margin: float | None = None,
) -> np.ndarray:
    """Cuts one aligned crop for a known detection.

    Args:
        image: uint8 [H, W, 3] RGB.
        face: a ``Face`` or a dict as ``detect`` returns.
        template: template name, or ``"margin"``.
        image_size: output side; default the template's native size (160 for "margin").
        margin: pixels added to the box side in "margin" mode (default 32).

    Returns:
        uint8 [image_size, image_size, 3] RGB.
    """
    size = _check_options(template, image_size, margin)
    if isinstance(face, dict):
        box = np.asarray(face["box"], np.float64)
        points = np.array([face["landmarks"][k] for k in LANDMARK_NAMES], np.float64)
    else:
        box, points = np.asarray(face.box, np.float64), face.landmarks
    if template == MARGIN_MODE:
        matrix = margin_box_transform(box, size, DEFAULT_MARGIN if margin is None else margin)
    else:
        matrix = umeyama(points, get_template(template).scaled(size))
    return warp(image, matrix, size)


def template_to_template(source: str, source_size: int, target: str, target_size: int):
    """The similarity taking a ``source``-template crop onto a ``target``-template crop.

    Both crops come from a similarity fit of the same five landmarks, so a crop aligned
    for one model becomes another model's crop without a second detection.

    Args:
        source: template name of the existing crops.
        source_size: their side in pixels.
        target: template name wanted.
        target_size: side of the wanted crop.

    Returns:
        float64 [2, 3], source-crop pixels -> target-crop pixels.
    """
    return umeyama(
        get_template(source).scaled(source_size), get_template(target).scaled(target_size)
    )


def select_faces(faces: Sequence[Face], image_shape: tuple[int, ...], policy: str) -> list[Face]:
    """Applies a several-faces policy.

    Args:
        faces: detections, by decreasing score.
        image_shape: (H, W, ...) of the image.
        policy: "center_weighted" (box area minus twice the squared distance of the box
            centre from the image centre, in pixels: the largest face unless a smaller
            one is much nearer the centre, the rule of FaceNet's reference alignment
            script), "largest" (box area), "most_central" (box centre nearest the image
            centre), or "all" (every face, by decreasing score).

    Returns:
        The chosen faces: at most one unless policy is "all"; empty when ``faces`` is.
    """
    if policy not in POLICIES:
        raise InvalidInputError(f"policy must be one of {POLICIES}, got {policy!r}")
    if not faces or policy == "all":
        return list(faces)
    if policy == "largest":
        return [max(faces, key=lambda f: f.area)]
    cy, cx = (image_shape[0] - 1) / 2.0, (image_shape[1] - 1) / 2.0

    def off_centre_squared(f: Face) -> float:
        return (0.5 * (f.box[0] + f.box[2]) - cx) ** 2 + (0.5 * (f.box[1] + f.box[3]) - cy) ** 2

    if policy == "most_central":
        return [min(faces, key=off_centre_squared)]
    return [max(faces, key=lambda f: f.area - CENTER_WEIGHT * off_centre_squared(f))]


def order_faces(faces: Sequence[Face], image_shape: tuple[int, ...], policy: str) -> list[Face]:
    """Every face, the one ``policy`` picks first, then the rest by decreasing score.

    Args:
        faces: detections, by decreasing score.
        image_shape: (H, W, ...) of the image.
        policy: one of ``ONE_FACE_POLICIES``.

    Returns:
        All of ``faces``, reordered (face 0 is what a one-face call would use).
    """
    if policy not in ONE_FACE_POLICIES:
        raise InvalidInputError(f"policy must be one of {ONE_FACE_POLICIES}, got {policy!r}")
    chosen = select_faces(faces, image_shape, policy)
    return chosen + [f for f in faces if not any(f is c for c in chosen)]


def align(
    image: Any,
    template: str = "facenet_160",
    *,
    policy: str = DEFAULT_POLICY,
    image_size: int | None = None,
    margin: float | None = None,
    detector: MTCNNDetector | None = None,
) -> list[np.ndarray]:
    """Detects the faces in one image and returns aligned crops.

    Args:
        image: file path, or RGB array [H, W, 3] / grayscale [H, W].
        template: "facenet_160", "dlib_150", "mobile_112", or "margin" (box + margin,
            scale and translation only).
        policy: "center_weighted" (default), "largest", "most_central" (one crop at
            most) or "all" (see ``select_faces``).
        image_size: crop side; default the template's native size (160 for "margin").
        margin: pixels added to the box side in "margin" mode (default 32).
        detector: an ``MTCNNDetector``; default the shared one.

    Returns:
        uint8 [S, S, 3] RGB crops, by the policy's order; an empty list when no face is
        found.

    Raises:
        ImageReadError: unreadable file. InvalidInputError: bad option or array.
    """
    size = _check_options(template, image_size, margin)
    pixels = as_rgb_image(image)
    faces = (detector or default_detector()).detect_faces([pixels])[0]
    chosen = select_faces(faces, pixels.shape, policy)
    return [crop_face(pixels, f, template, image_size=size, margin=margin) for f in chosen]


def align_faces(
    images: Sequence[Any],
    template: str = "facenet_160",
    *,
    policy: str = DEFAULT_POLICY,
    image_size: int | None = None,
    margin: float | None = None,
    detector: MTCNNDetector | None = None,
    on_error: str = "raise",
) -> list[np.ndarray | None]:
    """Aligns one face per image for a batch, detecting in batches.

    Args:
        images: file paths and/or arrays.
        template, image_size, margin, detector: as in ``align``.
        policy: one of ``ONE_FACE_POLICIES`` (one face per image).
        on_error: "raise" to raise on an unreadable file or bad array, "none" to return
            None for it instead.

    Returns:
        One uint8 [S, S, 3] crop per image, or None where no face was found (never an
        exception for a face-less image).
    """
    if policy not in ONE_FACE_POLICIES:
        raise InvalidInputError(
            f"align_faces returns one face per image: policy must be one of "
            f"{ONE_FACE_POLICIES}, got {policy!r} (use align(..., policy='all') per image)"
        )
    if on_error not in ("raise", "none"):
        raise InvalidInputError(f"on_error must be 'raise' or 'none', got {on_error!r}")
    size = _check_options(template, image_size, margin)
    pixels: list[np.ndarray | None] = []
    for i, im in enumerate(images):
        try:
            pixels.append(as_rgb_image(im, f"images[{i}]"))
        except FaceNetError:
            if on_error == "raise":
                raise
            pixels.append(None)
    valid = [i for i, p in enumerate(pixels) if p is not None]
    found = (detector or default_detector()).detect_faces([pixels[i] for i in valid])
    out: list[np.ndarray | None] = [None] * len(pixels)
    for i, faces in zip(valid, found, strict=True):
        chosen = select_faces(faces, pixels[i].shape, policy)
        if chosen:
            out[i] = crop_face(pixels[i], chosen[0], template, image_size=size, margin=margin)
    return out
