"""MTCNN detection on real faces against stored values and against the mtcnn package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facenet_tf.align.detector import LANDMARK_NAMES, MTCNNDetector, detect
from facenet_tf.errors import ImageReadError, InvalidInputError, InvalidInputTypeError

# Golden detections (box x1, y1, x2, y2; score; landmarks) from this detector, stored when
# its landmarks were checked against the mtcnn package's (median 0.4 px on LFW).
# Regenerate by printing MTCNNDetector().detect_faces(...) for these files.
GOLDEN = {
    "lfw/lfw-deepfunneled/AJ_Cook/AJ_Cook_0001.jpg": [
        ([88.6, 62.6, 176.3, 193.2], 0.9984,
         [[103.6, 113.6], [147.1, 113.0], [115.9, 136.2], [104.4, 158.1], [144.8, 159.4]]),
    ],
    "lfw/lfw-deepfunneled/Abdulaziz_Kamilov/Abdulaziz_Kamilov_0001.jpg": [
        ([0.4, 50.7, 40.9, 103.4], 1.0,
         [[10.8, 70.9], [27.0, 71.8], [16.1, 83.7], [11.3, 92.4], [23.8, 93.4]]),
        ([74.6, 59.8, 165.3, 187.0], 0.9984,
         [[104.8, 112.9], [144.9, 112.2], [127.8, 137.8], [106.9, 155.1], [140.4, 155.6]]),
        ([162.1, 30.9, 237.2, 132.9], 0.9863,
         [[177.8, 76.2], [212.6, 64.6], [197.2, 96.1], [194.6, 115.5], [221.4, 106.6]]),
    ],
    "celeba/wild/7201/001085.jpg": [
        ([64.9, 44.5, 145.9, 153.3], 1.0,
         [[90.5, 84.8], [131.1, 86.1], [112.9, 106.9], [86.5, 119.3], [127.5, 122.1]]),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def detector():
    return MTCNNDetector()


def _files(shared_data):
    paths = {k: shared_data / k for k in GOLDEN}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        pytest.skip(f"missing shared images: {missing}")
    return paths


def test_golden_detections(shared_data, detector):
    paths = _files(shared_data)
    for key, path in paths.items():
        faces = detector.detect(path)
        assert len(faces) == len(GOLDEN[key]), key
        for face, (box, score, landmarks) in zip(faces, GOLDEN[key], strict=True):
            np.testing.assert_allclose(face["box"], box, atol=1.0, err_msg=key)
            assert face["score"] == pytest.approx(score, abs=5e-3)
            got = [face["landmarks"][n] for n in LANDMARK_NAMES]
            np.testing.assert_allclose(got, landmarks, atol=1.0, err_msg=key)


def test_batch_equals_single_and_is_json(shared_data, detector):
    from facenet_tf.io.images import read_image

    paths = list(_files(shared_data).values())
    # Mixed sizes (LFW 250x250 and CelebA 213x224) and a path among arrays.
    batch = detector.detect_batch([paths[0], read_image(paths[1]), read_image(paths[2])])
    for path, faces in zip(paths, batch, strict=True):
        single = detector.detect(path)
        assert json.loads(json.dumps(faces)) == faces
        np.testing.assert_allclose([f["box"] for f in faces], [f["box"] for f in single], atol=1e-3)
    face = batch[0][0]
    assert all(type(v) is float for v in face["box"] + [face["score"]])
    assert all(type(v) is float for xy in face["landmarks"].values() for v in xy)


def test_agrees_with_the_mtcnn_package(shared_data, detector):
    """Same weights and conventions, so the same landmarks (the package rounds to integers).

    The one deliberate difference is NMS: ours is the standard greedy one, the package's
    also lets already-suppressed boxes suppress others. It can change which candidate
    survives for a face at the border (the left face of the Kamilov image moves by
    ~4 px), so the 2 px bound applies to the largest face, the one ``align`` uses.
    """
    from mtcnn import MTCNN

    from facenet_tf.io.images import read_image

    package = MTCNN()
    for path in _files(shared_data).values():
        image = read_image(path)
        ours = detector.detect(image)
        theirs = package.detect_faces(image)
        assert len(ours) == len(theirs)
        for face in ours:
            eye = np.array(face["landmarks"]["left_eye"])
            best = min(
                theirs, key=lambda t: np.linalg.norm(np.array(t["keypoints"]["left_eye"]) - eye)
            )
            d = [
                np.linalg.norm(np.subtract(face["landmarks"][n], best["keypoints"][n]))
                for n in LANDMARK_NAMES
            ]
            largest = face is max(
                ours, key=lambda f: np.prod(np.diff(np.reshape(f["box"], (2, 2)), axis=0))
            )
            assert np.median(d) <= (2.0 if largest else 6.0), (path, d)


def test_grayscale_and_float_inputs(shared_data, detector):
    from facenet_tf.io.images import read_image

    image = read_image(_files(shared_data)[next(iter(GOLDEN))])
    gray = image.mean(axis=2)  # float [H, W] in [0, 255]
    faces = detector.detect(gray)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0]["box"], GOLDEN[next(iter(GOLDEN))][0][0], atol=6)
    assert len(detector.detect(image.astype(np.float32) / 255.0)) == 1


def test_no_face_and_tiny_images(detector):
    flat = np.full((120, 160, 3), 128, np.uint8)
    assert detector.detect(flat) == []
    assert detector.detect(np.zeros((10, 10, 3), np.uint8)) == []
    assert detector.detect_batch([flat, np.zeros((5, 300, 3), np.uint8)]) == [[], []]


def test_bad_inputs_raise_typed_errors(tmp_path, detector):
    with pytest.raises(ImageReadError, match="nothing.jpg"):
        detector.detect(tmp_path / "nothing.jpg")
    with pytest.raises(InvalidInputTypeError):
        detector.detect(b"\xff\xd8")
    with pytest.raises(InvalidInputTypeError):
        detector.detect(42)
    with pytest.raises(InvalidInputError, match=r"images\[1\]"):
        detector.detect_batch([np.zeros((20, 20, 3)), np.zeros((20, 20, 2))])
    with pytest.raises(InvalidInputError):
        MTCNNDetector(min_face_size=5)


def test_module_level_detect_uses_shared_detector(shared_data):
    path = _files(shared_data)["celeba/wild/7201/001085.jpg"]
    faces = detect(str(path))
    assert len(faces) == 1 and faces[0]["score"] > 0.99


# --- against the frozen pre-packing detector -------------------------------------------


@pytest.fixture(scope="module")
def reference():
    from tests.align.reference_detector import MTCNNDetector as ReferenceDetector

    return ReferenceDetector()


def _assert_same_detections(ours, theirs, label):
    """Same face count per image; landmarks within 0.5 px median / 2 px max and boxes
    within 1 px median (pairs by rank: both sort by score)."""
    landmarks, boxes = [], []
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert len(a) == len(b), f"{label} image {k}: {len(a)} faces vs {len(b)}"
        for fa, fb in zip(a, b, strict=True):
            landmarks.append(np.linalg.norm(fa.landmarks - fb.landmarks, axis=1))
            boxes.append(np.abs(np.subtract(fa.box, fb.box)))
    assert landmarks, label
    landmarks, boxes = np.concatenate(landmarks), np.concatenate(boxes)
    assert np.median(landmarks) <= 0.5 and landmarks.max() <= 2.0, label
    assert np.median(boxes) <= 1.0, label


def test_same_detections_as_reference_on_lfw(shared_data, detector, reference):
    from facenet_tf.io.images import read_image

    paths = sorted((shared_data / "lfw" / "lfw-deepfunneled").glob("*/*_0001.jpg"))[::50][:30]
    if len(paths) < 30:
        pytest.skip("LFW images missing")
    images = [read_image(p) for p in paths]
    _assert_same_detections(
        detector.detect_faces(images), reference.detect_faces(images), "lfw batched"
    )
    singles = [detector.detect_faces([im])[0] for im in images[:5]]
    _assert_same_detections(singles, reference.detect_faces(images[:5]), "lfw single")


def test_same_detections_as_reference_on_multi_face_photos(shared_data, detector, reference):
    from benchmarks.detect_photos import synthetic_photos

    paths = sorted((shared_data / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    if not paths:
        pytest.skip("LFW images missing")
    photos = synthetic_photos(paths, 3, seed=1)
    ours = detector.detect_faces(photos)
    assert all(len(faces) >= 5 for faces in ours)  # 6 pasted faces; a small one may be missed
    _assert_same_detections(ours, reference.detect_faces(photos), "1280x720")
    # Another size and a mixed batch: level sizes are inputs, nothing depends on the shape.
    crops = [photos[0][:517, :903], photos[1]]
    _assert_same_detections(detector.detect_faces(crops), reference.detect_faces(crops), "mixed")


def test_bucketed_batches_are_bounded():
    from facenet_tf.align.detector import _MAX_RNET_BATCH, _bucket

    sizes = {_bucket(n) for n in range(1, _MAX_RNET_BATCH + 1)}
    assert sizes == {*range(8, 65, 8), *range(96, _MAX_RNET_BATCH + 1, 32)}
    assert all(0 <= _bucket(n) - n < (8 if n <= 64 else 32) for n in range(1, 2000))


# --- against the detections stored before the speed work --------------------------------

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline_golden" / "lfw_50.npz"


def _assert_golden(faces, golden, tag):
    """Same face count per image, boxes and landmarks within 1e-4 px, scores within 1e-6.

    Tight on purpose: rewriting P-Net with other rounding (e.g. folding the input
    normalisation into the first convolution) moved landmarks by up to 1e-3 px, and
    embeddings by 1e-4."""
    assert [len(f) for f in faces] == golden[f"{tag}_count"].tolist(), tag
    flat = [f for fs in faces for f in fs]
    np.testing.assert_allclose([f.box for f in flat], golden[f"{tag}_boxes"], rtol=0, atol=1e-4)
    np.testing.assert_allclose([f.score for f in flat], golden[f"{tag}_scores"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        [f.landmarks for f in flat], golden[f"{tag}_landmarks"], rtol=0, atol=1e-4
    )


def test_same_detections_as_stored_before_the_speed_work(shared_data, detector):
    """50 LFW photos (58 faces) and 4 synthetic 1280x720 photos (34 faces): the detections
    written by the code before the speed work (tests/fixtures/README.md)."""
    from benchmarks.detect_photos import synthetic_photos
    from facenet_tf.io.images import read_image

    golden = np.load(GOLDEN_FILE)
    paths = [shared_data / p for p in golden["paths"]]
    if not all(p.is_file() for p in paths):
        pytest.skip("LFW images missing")
    _assert_golden(detector.detect_faces([read_image(p) for p in paths]), golden, "lfw")
    lfw = sorted((shared_data / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"), key=str)
    photos = synthetic_photos(lfw, 4, seed=3)
    _assert_golden(detector.detect_faces(photos), golden, "photos")
    # One photo per call (another batch composition and bucket size) gives the same.
    singles = [detector.detect_faces([p])[0] for p in photos[:2]]
    count = int(golden["photos_count"][:2].sum())
    sub = {k: golden[k][:count] for k in ("photos_boxes", "photos_scores", "photos_landmarks")}
    _assert_golden(singles, {"photos_count": golden["photos_count"][:2], **sub}, "photos")
