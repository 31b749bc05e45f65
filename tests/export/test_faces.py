"""Face loading: crops, deterministic disjoint samples, errors naming the input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from export import faces
from facenet_tf.errors import InvalidInputError


def test_crop_to_box_and_size():
    image = np.zeros((218, 178, 3), np.uint8)
    x0, y0, x1, y1 = faces.CELEBA_BOX
    image[y0:y1, x0:x1] = 200  # the box, and only the box, is bright
    crop = faces.crop_to(image, faces.CELEBA_BOX, (60, 60))
    assert crop.shape == (60, 60, 3) and crop.dtype == np.uint8
    assert crop.min() == 200


def test_crop_clamps_box_to_image():
    image = np.full((20, 30, 3), 7, np.uint8)
    assert faces.crop_to(image, (-10, -10, 100, 100), (5, 5)).shape == (5, 5, 3)


def test_sample_paths_disjoint_and_deterministic():
    paths = [f"p{i}" for i in range(50)]
    a = faces.sample_paths(paths, 20, seed=1)
    b = faces.sample_paths(paths, 20, offset=20, seed=1)
    assert not set(a) & set(b)
    assert a == faces.sample_paths(paths, 20, seed=1)
    with pytest.raises(InvalidInputError, match="only 50"):
        faces.sample_paths(paths, 40, offset=20)


def test_list_images_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="no such directory"):
        faces.list_images(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="no images"):
        faces.list_images(tmp_path)


def test_load_face_crops_reads_rgb(tmp_path):
    bgr = np.zeros((218, 178, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    crops = faces.load_face_crops([tmp_path / "a.png"], (32, 32))
    assert crops.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(crops[0, 0, 0], [255, 0, 0])


def test_load_face_crops_bad_method(tmp_path):
    with pytest.raises(InvalidInputError, match="method"):
        faces.load_face_crops([], (8, 8), method="warp")


def test_celeba_crops_are_real_faces(celeba_paths):
    crops = faces.load_face_crops(celeba_paths[:4], (64, 64))
    assert crops.shape == (4, 64, 64, 3)
    assert crops.std() > 20  # photos, not blank frames


@pytest.mark.slow
def test_align_method_on_real_faces(celeba_paths):
    if not faces.alignment_available("dlib_150", (150, 150)):
        pytest.skip("facenet_tf.align has no dlib_150 template here")
    missed: list[int] = []
    crops = faces.load_face_crops(
        celeba_paths[:3], (150, 150), template="dlib_150", method="align", fallbacks=missed
    )
    assert crops.shape == (3, 150, 150, 3) and missed == []


def test_alignment_needs_square_input():
    assert not faces.alignment_available("dlib_150", (140, 116))
    assert not faces.alignment_available(None)
