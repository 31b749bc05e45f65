"""read_image / decode_image on every kind of good and bad file, built in tmp_path."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from facenet_tf.errors import ImageReadError, ImageTooLargeError
from facenet_tf.io.images import (
    MAX_PIXELS_ENV,
    decode_image,
    header_size,
    read_image,
    to_rgb_float32,
    to_rgb_uint8,
)

Image = pytest.importorskip("PIL.Image")  # Pillow writes the test files ([dev] extra)


def _pattern(h: int = 40, w: int = 60) -> np.ndarray:
    """RGB image whose red grows along x and blue along y (orientation is visible)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack(
        [xs * 255 // (w - 1), np.full_like(xs, 100), ys * 255 // (h - 1)], axis=-1
    ).astype(np.uint8)


@pytest.fixture
def rgb() -> np.ndarray:
    return _pattern()


@pytest.mark.parametrize("fmt,ext,tol", [("PNG", "png", 0), ("BMP", "bmp", 0),
                                          ("WEBP", "webp", 12), ("JPEG", "jpg", 12)])  # fmt: skip
def test_formats_decode_to_rgb(tmp_path, rgb, fmt, ext, tol):
    path = tmp_path / f"x.{ext}"
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP":
        kwargs["lossless"] = False
    Image.fromarray(rgb).save(path, fmt, **kwargs)
    out = read_image(path)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).mean() <= tol / 3 + 0.01
    assert np.abs(out.astype(int) - rgb).max() <= max(tol * 3, 0)
    assert header_size(path.read_bytes()) == (60, 40)


def test_grayscale_is_expanded(tmp_path, rgb):
    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (40, 60, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_rgba_png_drops_alpha(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)


def test_16bit_png_is_reduced_to_8bit(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 257 * 3]], np.uint16)  # exact multiples of 257
    Image.fromarray(values).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode.startswith("I")  # really 16-bit on disk
    out = read_image(tmp_path / "gray16.png")
    np.testing.assert_allclose(out[0, :, 0], [0, 100, 255, 3], atol=1)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_16bit_rgb_png(tmp_path):
    import cv2

    rgb16 = np.array([[[257 * 10, 257 * 20, 257 * 30], [65535, 0, 257 * 128]]], np.uint16)
    assert cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])  # cv2 writes BGR
    assert (tmp_path / "rgb16.png").read_bytes()[24] == 16  # IHDR bit depth
    np.testing.assert_allclose(
        read_image(tmp_path / "rgb16.png")[0], [[10, 20, 30], [255, 0, 128]], atol=1
    )


def test_cmyk_jpeg_is_converted(tmp_path):
    # Pure red in RGB is C=0, M=255, Y=255, K=0.
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = read_image(tmp_path / "c.jpg").astype(int)
    assert out.shape == (16, 16, 3)
    assert out[..., 0].mean() > 240 and out[..., 1].mean() < 15 and out[..., 2].mean() < 15


@pytest.mark.parametrize("orientation,expected", [(3, "rot180"), (6, "rot270"), (8, "rot90")])
def test_exif_orientation_is_applied(tmp_path, rgb, orientation, expected):
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "e.jpg", quality=95, exif=exif)
    out = read_image(tmp_path / "e.jpg").astype(int)
    # EXIF 6 = "rotate 90 clockwise to display" = np.rot90(k=3); 8 = k=1; 3 = k=2.
    k = {"rot90": 1, "rot180": 2, "rot270": 3}[expected]
    want = np.rot90(rgb, k).astype(int)
    assert out.shape == want.shape
    assert np.abs(out - want).mean() < 4


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.jpg.*empty"):
        read_image(tmp_path / "empty.jpg")


def test_text_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not an image\n")
    with pytest.raises(ImageReadError, match=r"notes\.jpg.*not a recognised image"):
        read_image(tmp_path / "notes.jpg")


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.99])
def test_truncated_jpeg(tmp_path, fraction):
    big = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageReadError, match=r"cut\.jpg"):
        read_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp")])
def test_truncated_other_formats(tmp_path, fmt, ext):
    big = np.random.default_rng(1).integers(0, 255, (80, 90, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / f"full.{ext}", fmt)
    data = (tmp_path / f"full.{ext}").read_bytes()
    (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=rf"cut\.{ext}"):
        read_image(tmp_path / f"cut.{ext}")


def test_corrupt_jpeg_body(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "ok.jpg", quality=90)
    data = bytearray((tmp_path / "ok.jpg").read_bytes())
    data[2:20] = b"\x00" * 18  # destroy the marker structure right after SOI
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"bad\.jpg"):
        read_image(tmp_path / "bad.jpg")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_image(tmp_path)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature + IHDR declaring a huge image, with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_bomb_guard_png_header(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: 100000x100000 = 10,000,000,000"):
        read_image(tmp_path / "bomb.png")


def test_bomb_guard_jpeg_header(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "ok.jpg", quality=90)
    data = bytearray((tmp_path / "ok.jpg").read_bytes())
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    assert header_size(bytes(data)) == (60000, 60000)
    with pytest.raises(ImageTooLargeError, match=r"huge\.jpg"):
        read_image(tmp_path / "huge.jpg")


def test_bomb_limit_is_configurable(tmp_path, rgb, monkeypatch):
    Image.fromarray(rgb).save(tmp_path / "x.png")
    assert read_image(tmp_path / "x.png", max_pixels=2400).shape == (40, 60, 3)  # exactly at
    with pytest.raises(ImageTooLargeError, match="2,400 pixels exceeds the limit of 2,399"):
        read_image(tmp_path / "x.png", max_pixels=2399)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(ImageTooLargeError):
        read_image(tmp_path / "x.png")
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    assert read_image(tmp_path / "x.png").shape == (40, 60, 3)


def test_bomb_guard_after_decode_for_unparsed_formats(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "x.tiff")
    assert header_size((tmp_path / "x.tiff").read_bytes()) is None
    with pytest.raises(ImageTooLargeError, match=r"x\.tiff"):
        read_image(tmp_path / "x.tiff", max_pixels=100)


def test_decode_image_names_the_input():
    with pytest.raises(ImageReadError, match="upload-7"):
        decode_image(b"GIF89a", "upload-7")


def test_array_helpers_keep_their_contract():
    gray16 = np.array([[0, 65535]], np.uint16)
    np.testing.assert_allclose(to_rgb_float32(gray16)[0, 1], [255, 255, 255])
    np.testing.assert_array_equal(to_rgb_uint8(np.array([[[0.0, 0.5, 1.0]]]))[0, 0], [0, 128, 255])


EXAMPLE_JPEG = (
    Path(__file__).resolve().parents[2] / "examples/faces/Colin_Powell/Colin_Powell_0001.jpg"
)


def _cut_with_eoi(data: bytes, fraction: float) -> bytes:
    """A truncated JPEG with an end-of-image marker appended: libjpeg only warns on it."""
    return data[: int(len(data) * fraction)] + b"\xff\xd9"


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.995])
def test_truncated_jpeg_with_eoi_appended(tmp_path, fraction):
    data = EXAMPLE_JPEG.read_bytes()
    (tmp_path / "cut_eoi.jpg").write_bytes(_cut_with_eoi(data, fraction))
    with pytest.raises(ImageReadError, match=r"cut_eoi\.jpg: truncated JPEG"):
        read_image(tmp_path / "cut_eoi.jpg")
    assert read_image(EXAMPLE_JPEG).shape == (250, 250, 3)  # the intact file reads


@pytest.mark.parametrize("params", [("restart", 2), ("progressive", 1)])
def test_truncated_restart_and_progressive_jpeg_with_eoi(tmp_path, params):
    import cv2

    flag = {"restart": cv2.IMWRITE_JPEG_RST_INTERVAL, "progressive": cv2.IMWRITE_JPEG_PROGRESSIVE}
    big = np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    ok, enc = cv2.imencode(".jpg", big, [flag[params[0]], params[1]])
    data = enc.tobytes()
    (tmp_path / "full.jpg").write_bytes(data)
    assert read_image(tmp_path / "full.jpg").shape == (120, 160, 3)
    (tmp_path / "cut.jpg").write_bytes(_cut_with_eoi(data, 0.6))
    with pytest.raises(ImageReadError, match=r"cut\.jpg: truncated JPEG"):
        read_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("shape", [(64, 64, 3), (61, 75, 3)])
def test_flat_mid_grey_jpeg_reads(tmp_path, shape):
    """Flat luma 128 is what a cut scan decodes to: the full walk must accept a real one."""
    import cv2

    grey = np.full(shape, 128, np.uint8)
    (tmp_path / "grey.jpg").write_bytes(cv2.imencode(".jpg", grey)[1].tobytes())
    np.testing.assert_allclose(read_image(tmp_path / "grey.jpg"), 128, atol=1)
    gray_only = cv2.imencode(".jpg", grey[..., 0])[1].tobytes()  # one-component JPEG
    assert decode_image(gray_only).shape == shape
    data = cv2.imencode(".jpg", grey)[1].tobytes()
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        decode_image(_cut_with_eoi(data, 0.9), "grey")


def test_png_is_not_affected_by_jpeg_checks(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "x.png")
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), rgb)
