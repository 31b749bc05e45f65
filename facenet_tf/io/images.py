"""Reading and normalising images: every path a user gives us comes through here.

Decoding is OpenCV's (``cv2.imdecode`` with ``IMREAD_COLOR``), chosen over Pillow, which
is only a development dependency. ``IMREAD_COLOR`` gives 8-bit 3-channel output for every
input and applies the EXIF orientation tag itself, so:

* JPEG, PNG, BMP, WebP (and the other formats OpenCV reads: GIF, TIFF, ...) decode;
* EXIF orientation is honoured (JPEG, and PNG ``eXIf``);
* grayscale and palette images are expanded to RGB, CMYK JPEGs converted to RGB, 16-bit
  images reduced to 8 bits, and the alpha channel of RGBA images dropped (the stored
  colour is kept, as ``to_rgb_float32`` does for arrays);
* zero-byte, truncated, corrupt and non-image files raise ``ImageReadError`` naming the
  file. Besides the decoder's own checks, a PNG must reach its IEND chunk and a JPEG's
  marker structure and scans must be complete (``facenet_tf.io.jpeg``): libjpeg only
  *warns* about a scan that ends early (a truncated file, with or without an EOI marker
  appended), prints "Corrupt JPEG data" on stderr and returns an image whose missing
  part is flat grey; OpenCV does not pass the warning on, so those checks refuse it.

Decompression bombs: the pixel count is read from the file header (JPEG, PNG, BMP, WebP,
GIF) before anything is decoded, and images above ``max_pixels`` raise
``ImageTooLargeError``. The limit defaults to ``DEFAULT_MAX_PIXELS`` and can be changed
per call, or for the process with the ``FACENET_TF_MAX_IMAGE_PIXELS`` environment
variable. Formats whose header we do not parse (e.g. TIFF) are checked after decoding.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from facenet_tf.errors import (
    ImageReadError,
    ImageTooLargeError,
    InvalidInputError,
    InvalidInputTypeError,
)
from facenet_tf.io import jpeg

PathLike = str | os.PathLike

# Pillow's default bomb threshold (2 x 89,478,485), about a 16k x 11k photo.
DEFAULT_MAX_PIXELS = 178_956_970
MAX_PIXELS_ENV = "FACENET_TF_MAX_IMAGE_PIXELS"

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def max_image_pixels() -> int:
    """The process-wide pixel limit: $FACENET_TF_MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS."""
    value = os.environ.get(MAX_PIXELS_ENV)
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        raise InvalidInputError(f"${MAX_PIXELS_ENV} must be an integer, got {value!r}") from None
    if limit < 1:
        raise InvalidInputError(f"${MAX_PIXELS_ENV} must be >= 1, got {limit}")
    return limit


def _jpeg_info(data: bytes) -> tuple[tuple[int, int] | None, int]:
    """(width, height) from the first SOF marker, and the offset of the first scan (SOS)."""
    size, pos, n = None, 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return size, -1
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        if marker == 0xDA:
            return size, pos
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _JPEG_SOF and size is None and pos + 9 <= n:
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (w, h)
        pos += 2 + length
    return size, -1


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a JPEG, PNG, BMP, WebP or GIF header; None otherwise."""
    try:
        if data[:2] == b"\xff\xd8":
            return _jpeg_info(data)[0]
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"BM":
            if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
                return struct.unpack("<HH", data[18:22])
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = struct.unpack("<I", data[21:25])[0]
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
    except struct.error:  # header itself truncated: the decoder will refuse the file
        return None
    return None


def _check_complete(data: bytes, name: str) -> tuple[jpeg.Frame, list[jpeg.Scan]] | None:
    """Checks that need no decoding; returns a JPEG's frame and scans for ``_check_decoded``."""
    if data[:2] == b"\xff\xd8":
        try:
            frame, scans = jpeg.parse(data)
            jpeg.check_scans(frame, scans)
        except jpeg.JpegStructureError as e:
            raise ImageReadError(f"{name}: {e}") from None
        return frame, scans
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data.rfind(b"IEND") < 0:
        raise ImageReadError(f"{name}: truncated PNG (no IEND chunk)")
    return None


def _check_decoded(structure, image: np.ndarray, name: str) -> None:
    """A JPEG whose decoded pixels could hide a scan cut short gets its last scan walked."""
    if structure is None or not jpeg.needs_walk(*structure, image):
        return
    try:
        jpeg.check_last_scan(*structure)
    except jpeg.JpegStructureError as e:
        raise ImageReadError(f"{name}: {e}") from None


def _check_pixels(width: int, height: int, limit: int, name: str) -> None:
    if width * height > limit:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{limit:,} (decompression-bomb guard; raise it with max_pixels= or "
            f"${MAX_PIXELS_ENV} if the file is trusted)"
        )


def decode_image(data: bytes, name: str = "image", *, max_pixels: int | None = None) -> np.ndarray:
    """Decodes encoded image bytes to RGB (see the module docstring for what is accepted).

    Args:
        data: the file's bytes.
        name: how error messages refer to it (usually the path).
        max_pixels: pixel-count limit; default ``max_image_pixels()``.

    Returns:
        uint8 [H, W, 3] RGB, EXIF orientation applied.

    Raises:
        ImageReadError: empty, truncated, corrupt or not an image.
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    limit = max_image_pixels() if max_pixels is None else int(max_pixels)
    if not data:
        raise ImageReadError(f"{name}: file is empty (0 bytes)")
    size = header_size(data)
    if size is not None:
        if size[0] <= 0 or size[1] <= 0:
            raise ImageReadError(f"{name}: header declares an empty image {size[0]}x{size[1]}")
        _check_pixels(size[0], size[1], limit, name)
    structure = _check_complete(data, name)
    flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we raise instead
    try:
        image = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR if flag is None else flag
        )
    except cv2.error as e:
        raise ImageReadError(f"{name}: not a readable image ({str(e).strip()[-120:]})") from None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        kind = "corrupt or truncated image" if size is not None else "not a recognised image format"
        raise ImageReadError(f"{name}: {kind}")
    if flag is None:
        image = image[..., ::-1]
    _check_pixels(image.shape[1], image.shape[0], limit, name)
    _check_decoded(structure, image, name)
    return np.ascontiguousarray(image)


def read_image(path: PathLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Reads an image file as RGB.

    Args:
        path: file path (JPEG, PNG, BMP, WebP, or another format OpenCV reads).
        max_pixels: decompression-bomb limit; default ``max_image_pixels()``.

    Returns:
        uint8 [H, W, 3] RGB, EXIF orientation applied.

    Raises:
        ImageReadError: the file is missing, unreadable, empty, truncated, corrupt or not
            an image; the message names it.
        ImageTooLargeError: the image has more than ``max_pixels`` pixels.
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: no such file")
    if not p.is_file():
        raise ImageReadError(f"{p}: not a regular file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{p}: cannot read ({e.strerror or e})") from None
    return decode_image(data, str(p), max_pixels=max_pixels)


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
