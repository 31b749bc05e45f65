"""Template records inside PNG / JPEG crops: write, read from the header, check."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet_tf.align.provenance import (
    TEMPLATE_KEY,
    check_templates,
    embed_template,
    read_template,
)
from facenet_tf.errors import ImageReadError, InvalidInputError, TemplateMismatchError
from facenet_tf.io.images import decode_image

PHOTO = Path(__file__).resolve().parents[2] / "examples/faces/Colin_Powell/Colin_Powell_0001.jpg"


def _encoded(ext: str) -> bytes:
    rng = np.random.default_rng(0)
    return cv2.imencode(ext, rng.integers(0, 255, (24, 20, 3), dtype=np.uint8))[1].tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_record_round_trip_keeps_pixels(ext):
    plain = _encoded(ext)
    tagged = embed_template(plain, "dlib_150")
    assert read_template(tagged) == "dlib_150"
    assert read_template(plain) is None
    np.testing.assert_array_equal(decode_image(tagged), decode_image(plain))
    assert TEMPLATE_KEY.encode() in tagged[:100]  # in the header, before any pixel data


def test_record_after_jfif_app0_and_exif():
    jpeg = _encoded(".jpg")
    assert jpeg[2:4] == b"\xff\xe0"
    tagged = embed_template(jpeg, "facenet_160")
    assert tagged[2:4] == b"\xff\xe0"  # JFIF APP0 still first
    # A long APP1 (EXIF-sized) before the record: read_template reads further.
    app1 = b"\xff\xe1" + (60_002).to_bytes(2, "big") + b"\x00" * 60_000
    big = tagged[:2] + app1 + tagged[2:]
    assert read_template(big) == "facenet_160"


def test_other_data_is_unknown_or_refused(tmp_path):
    assert read_template(b"GIF89a....") is None
    with pytest.raises(ValueError, match="PNG or JPEG"):
        embed_template(b"GIF89a....", "dlib_150")
    with pytest.raises(ImageReadError, match="absent.png"):
        read_template(tmp_path / "absent.png")


def test_check_templates_names_offenders_and_returns_unknown(tmp_path):
    paths = []
    for i in range(13):
        path = tmp_path / f"crop{i:02d}.png"
        path.write_bytes(embed_template(_encoded(".png"), "facenet_160"))
        paths.append(path)
    (tmp_path / "plain.jpg").write_bytes(_encoded(".jpg"))
    assert check_templates(paths, "facenet_160") == []
    assert check_templates([*paths, tmp_path / "plain.jpg"], "facenet_160") == [
        str(tmp_path / "plain.jpg")
    ]
    with pytest.raises(TemplateMismatchError) as info:
        check_templates([*paths, tmp_path / "plain.jpg"], "dlib_150")
    message = str(info.value)
    assert "13 of 14" in message and "'dlib_150'" in message
    assert f"{paths[0]} (facenet_160)" in message and str(paths[9]) in message
    assert str(paths[10]) not in message and "and 3 more" in message
    assert info.value.expected == "dlib_150" and len(info.value.mismatched) == 13
    assert isinstance(info.value, InvalidInputError)


def test_real_photo_is_unknown():
    assert read_template(PHOTO) is None
    assert check_templates([PHOTO], "dlib_150") == [str(PHOTO)]
