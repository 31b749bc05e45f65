"""Reading and normalising images: every path a user gives us comes through here."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from facenet_tf.errors import ImageReadError, InvalidInputError, InvalidInputTypeError

PathLike = str | os.PathLike


def read_image(path: PathLike) -> np.ndarray:
    """Reads an image file as RGB.

    Args:
        path: file path.

    Returns:
        uint8 [H, W, 3] RGB.

    Raises:
        ImageReadError: the file is missing, empty or not a decodable image.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{p}: no such file")
    data = p.read_bytes()
    if not data:
        raise ImageReadError(f"{p}: file is empty (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(f"{p}: not a readable image (corrupt, truncated or unknown format)")
    if image.ndim == 3 and image.shape[2] >= 3:
        image = image[..., 2::-1] if image.shape[2] == 3 else image[..., [2, 1, 0, 3]]
    return to_rgb_uint8(image, str(p))


def to_rgb_float32(array: np.ndarray, name: str = "image") -> np.ndarray:
    """Validates an image array and returns float32 RGB pixel values in [0, 255].

    Accepts [H, W], [H, W, 1] (grayscale), [H, W, 3] (RGB) and [H, W, 4] (RGBA, alpha
    dropped); uint8; uint16 (scaled by 1/257); other integer dtypes with values in
    [0, 255]; floats in [0, 1] or, when any value exceeds 1, in [0, 255]. bool and
    non-numeric dtypes are refused.

    Args:
        array: the image.
        name: how error messages refer to it (a file name or ``images[3]``).

    Returns:
        float32 [H, W, 3].

    Raises:
        InvalidInputTypeError: unsupported dtype.
        InvalidInputError: wrong rank, 2 or more than 4 channels, empty, non-finite or
            out-of-range values.
    """
    a = np.asarray(array)
    if a.dtype == bool or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise InvalidInputTypeError(f"{name}: unsupported dtype {a.dtype}; use uint8 or float")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise InvalidInputError(f"{name}: expected an image of shape [H, W, C], got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidInputError(f"{name}: image is empty, shape {a.shape}")
    channels = a.shape[2]
    if channels not in (1, 3, 4):
        raise InvalidInputError(
            f"{name}: {channels} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)"
        )
    if channels == 1:
        a = np.repeat(a, 3, axis=2)
    elif channels == 4:
        a = a[..., :3]
    if a.dtype == np.uint8:
        return a.astype(np.float32)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 257.0
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise InvalidInputError(
                f"{name}: integer pixel values must lie in [0, 255], got [{lo}, {hi}]"
            )
        return a.astype(np.float32)
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InvalidInputError(f"{name}: contains NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 255.0:
        raise InvalidInputError(
            f"{name}: float pixel values must lie in [0, 1] or [0, 255], got [{lo:g}, {hi:g}]"
        )
    return a * 255.0 if hi <= 1.0 else a


def to_rgb_uint8(array: np.ndarray, name: str = "image") -> np.ndarray:
    """Like ``to_rgb_float32`` but returns uint8 [H, W, 3] (rounded)."""
    a = np.asarray(array)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3 and a.size:
        return np.ascontiguousarray(a)
    return (to_rgb_float32(a, name) + 0.5).astype(np.uint8)
