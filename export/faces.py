"""Real face crops for calibration, parity checks and LFW, prepared as an app would.

Two sources, neither of them LFW view 2 unless asked for explicitly:

* CelebA's aligned crops (``celeba/aligned_178x218``): people chosen to exclude LFW's,
  already similarity-aligned by CelebA (eyes near y = 111, mouth near y = 152 in the
  178 x 218 frame). They feed int8 calibration and the cosine-to-Keras checks.
* LFW deep-funneled photos for the accuracy columns of the parity table.

Crops are mapped to the model's input with ``facenet_tf.align`` when it provides the
model's template, otherwise with a fixed face box (``method="box"``), which the parity
report states.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facenet_tf.errors import InvalidInputError
from facenet_tf.io.images import read_image

PathLike = str | os.PathLike
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
CELEBA_ALIGNED = "celeba/aligned_178x218"

# Face boxes (x0, y0, x1, y1) used when no landmark alignment is available. Both frames
# put the eyes about 36% and the mouth about 71% down a 120-pixel square, which is close
# to the tight chips of the registered templates.
CELEBA_BOX = (29, 65, 149, 185)
LFW_DEEPFUNNELED_BOX = (65, 72, 185, 192)


def list_images(directory: PathLike) -> list[Path]:
    """Image files under ``directory`` (recursive), sorted.

    Raises:
        InvalidInputError: the directory does not exist or holds no images.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError(f"image directory {root}: no such directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InvalidInputError(
            f"image directory {root}: no images ({', '.join(IMAGE_SUFFIXES)}) found"
        )
    return paths


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


def crop_to(
    image: np.ndarray, box: tuple[int, int, int, int] | None, size: tuple[int, int]
) -> np.ndarray:
    """Crops ``box`` (clamped to the image; None keeps the whole image) and resizes.

    Args:
        image: uint8 [H, W, 3] RGB.
        box: (x0, y0, x1, y1) in pixels, or None.
        size: (height, width) of the result.

    Returns:
        uint8 [height, width, 3].
    """
    if box is not None:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = box
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        image = image[y0:y1, x0:x1]
    out_h, out_w = size
    shrink = image.shape[0] > out_h or image.shape[1] > out_w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (out_w, out_h), interpolation=interp)


def _box_for(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    if shape[:2] == (218, 178):
        return CELEBA_BOX
    if shape[:2] == (250, 250) and "lfw" in str(path).lower():
        return LFW_DEEPFUNNELED_BOX
    return None


def load_face_crops(
    paths: Sequence[PathLike],
    input_size: tuple[int, int],
    *,
    template: str | None = None,
    method: str = "box",
    fallbacks: list[int] | None = None,
) -> np.ndarray:
    """Reads images and turns them into model-input crops.

    Args:
        paths: image files.
        input_size: (H, W) of the model.
        template: the model's alignment template (used by ``method="align"``).
        method: "box" (CelebA's 178 x 218 aligned crops and LFW's 250 x 250
            deep-funneled photos get their fixed face box, other images are only
            resized, as pre-aligned chips), "resize" (resize only), or "align" (detect
            and align with ``facenet_tf.align.align_faces``; photos without a detected
            face fall back to "box").
        fallbacks: when given, the indices of images that fell back to "box" under
            ``method="align"`` are appended to it.

    Returns:
        uint8 [N, H, W, 3] RGB crops, the pixels an app would feed.
    """
    if method not in ("box", "resize", "align"):
        raise InvalidInputError(f"method must be 'box', 'resize' or 'align', got {method!r}")
    images = [read_image(p) for p in paths]
    boxed = [
        crop_to(im, _box_for(Path(p), im.shape) if method != "resize" else None, input_size)
        for p, im in zip(paths, images, strict=True)
    ]
    if method == "align":
        from facenet_tf.align import align_faces  # imported lazily: detectors are heavy

        if input_size[0] != input_size[1]:
            raise InvalidInputError(f"method='align' needs a square input, got {input_size}")
        crops = align_faces(images, template=template, image_size=int(input_size[0]))
        if fallbacks is not None:
            fallbacks.extend(i for i, c in enumerate(crops) if c is None)
        boxed = [c if c is not None else b for c, b in zip(crops, boxed, strict=True)]
    if not boxed:
        return np.zeros((0, *input_size, 3), np.uint8)
    return np.stack(boxed).astype(np.uint8)


def alignment_available(template: str | None, input_size: tuple[int, int] | None = None) -> bool:
    """Whether ``facenet_tf.align`` can align faces to ``template`` (square crops) here."""
    if template is None or (input_size is not None and input_size[0] != input_size[1]):
        return False
    try:
        from facenet_tf.align import align_faces, get_template  # noqa: F401

        get_template(template)
    except (ImportError, FileNotFoundError, ValueError, KeyError):
        return False
    return True
