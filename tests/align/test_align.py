"""align / align_faces / policies on real faces and hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.align import (
    LANDMARK_NAMES,
    MTCNNDetector,
    align,
    align_faces,
    crop_face,
    get_template,
    select_faces,
    umeyama,
)
from facenet_tf.align.transform import apply_transform
from facenet_tf.errors import ImageReadError, InvalidInputError
from facenet_tf.io.images import read_image

COOK = "lfw/lfw-deepfunneled/AJ_Cook/AJ_Cook_0001.jpg"
KAMILOV = "lfw/lfw-deepfunneled/Abdulaziz_Kamilov/Abdulaziz_Kamilov_0001.jpg"


@pytest.fixture(scope="module")
def detector():
    return MTCNNDetector()


def _image(shared_data, rel):
    path = shared_data / rel
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return read_image(path)


@pytest.mark.parametrize("template", ["facenet_160", "dlib_150", "mobile_112"])
def test_landmarks_land_where_the_transform_sends_them(shared_data, detector, template):
    """Re-detecting the aligned crop finds the landmarks where the fitted similarity puts
    them (checks the warp's direction and pixel conventions end to end)."""
    image = _image(shared_data, COOK)
    crops = align(image, template, detector=detector)
    t = get_template(template)
    assert len(crops) == 1 and crops[0].shape == (t.size, t.size, 3)
    assert crops[0].dtype == np.uint8
    original = detector.detect_faces([image])[0][0].landmarks
    predicted = apply_transform(umeyama(original, t.points), original)
    # The 5-point fit leaves a residual, but the template is near: a sanity bound.
    assert np.linalg.norm(predicted - t.points, axis=1).max() < 0.1 * t.size
    again = MTCNNDetector(min_face_size=12).detect_faces([crops[0]])[0]
    assert again, "no face in the aligned crop"
    found = max(again, key=lambda f: f.area).landmarks
    assert np.median(np.linalg.norm(found - predicted, axis=1)) < 0.02 * t.size


def test_image_size_override(shared_data, detector):
    crop = align(_image(shared_data, COOK), "facenet_160", image_size=224, detector=detector)[0]
    assert crop.shape == (224, 224, 3)


def test_margin_mode_is_scale_and_translation(shared_data):
    image = _image(shared_data, COOK)
    # Side max(100, 80) + 60 = 160 -> scale 1; centre (100.5, 100.5) -> crop (79.5, 79.5):
    # the crop is exactly image[21:181, 21:181].
    face = {
        "box": [50.5, 60.5, 150.5, 140.5],
        "score": 1.0,
        "landmarks": {n: [0.0, 0.0] for n in LANDMARK_NAMES},
    }
    crop = crop_face(image, face, "margin", image_size=160, margin=60)
    np.testing.assert_array_equal(crop, image[21:181, 21:181])
    # Halving the output halves the scale but keeps the same square.
    small = crop_face(image, face, "margin", image_size=80, margin=60)
    assert small.shape == (80, 80, 3)
    assert abs(small.astype(float).mean() - crop.astype(float).mean()) < 2.0


def test_margin_mode_end_to_end(shared_data, detector):
    crops = align(_image(shared_data, COOK), "margin", margin=32, detector=detector)
    assert len(crops) == 1 and crops[0].shape == (160, 160, 3)


def _kamilov_canvas(shared_data):
    """The 3-face LFW image on a 500x500 canvas, the right-hand man at the canvas centre."""
    image = _image(shared_data, KAMILOV)
    canvas = np.zeros((500, 500, 3), np.uint8)
    canvas[170:420, 50:300] = image  # his face centre (~200, 82) -> (~250, ~252)
    return canvas


def _centre(face):
    return np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])


def test_policies_pick_different_faces(shared_data, detector):
    canvas = _kamilov_canvas(shared_data)
    faces = detector.detect_faces([canvas])[0]
    assert len(faces) == 3
    largest = select_faces(faces, canvas.shape, "largest")[0]
    central = select_faces(faces, canvas.shape, "most_central")[0]
    # Largest: the man in front (image centre ~ (120, 123) -> canvas (170, 293)).
    assert np.linalg.norm(_centre(largest) - [170, 293]) < 20
    assert largest.area == max(f.area for f in faces)
    # Most central: the man on the right, moved onto the canvas centre.
    assert np.linalg.norm(_centre(central) - [249.5, 249.5]) < 25
    assert len(select_faces(faces, canvas.shape, "all")) == 3
    assert len(align(canvas, "mobile_112", policy="all", detector=detector)) == 3
    with pytest.raises(InvalidInputError, match="policy"):
        select_faces(faces, canvas.shape, "first")


def test_no_face_gives_empty_results(detector):
    blank = np.full((200, 200, 3), 90, np.uint8)
    assert align(blank, detector=detector) == []
    assert select_faces([], blank.shape, "largest") == []


def test_align_faces_batch(shared_data, detector, tmp_path):
    cook = _image(shared_data, COOK)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    blank = np.full((120, 120, 3), 200, np.uint8)
    out = align_faces(
        [cook, blank, tmp_path / "broken.jpg", shared_data / COOK],
        "dlib_150",
        detector=detector,
        on_error="none",
    )
    assert out[0].shape == (150, 150, 3) and out[1] is None and out[2] is None
    np.testing.assert_array_equal(out[0], out[3])  # path and array give the same crop
    with pytest.raises(ImageReadError, match="broken.jpg"):
        align_faces([cook, tmp_path / "broken.jpg"], detector=detector)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"template": "vgg_224"}, "unknown alignment template"),
        ({"template": "facenet_160", "margin": 10}, "margin applies"),
        ({"template": "margin", "margin": -1}, "margin must be"),
        ({"template": "dlib_150", "image_size": 4}, "image_size"),
        ({"policy": "all"}, "one face per image"),
        ({"on_error": "skip"}, "on_error"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        align_faces([np.zeros((30, 30, 3), np.uint8)], **kwargs)
