"""DevTest validation on a synthetic LFW-style tree with known answers.

The synthetic photos hold no face, so the face pipeline embeds them whole (resized to
the model's input); the identity stays readable from their colour.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from facenet_tf.face_pipeline import FaceNotFoundWarning
from facenet_tf.models import create_model
from facenet_tf.train.validation import make_validator
from tests.data.synthetic import label_from_pixels, write_lfw_tree
from tests.train.tiny import tiny_model

NAMES = ["Ann_A", "Bob_B", "Cid_C", "Dee_D"]


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw")
    return root, write_lfw_tree(root, NAMES)


def _oracle(batch):
    # One-hot of the identity the pixels show: same identity -> distance 0, else 2.
    out = np.zeros((len(batch), len(NAMES)), np.float32)
    for i, image in enumerate(batch):
        if image.max() > 0:  # padding rows are all zero
            out[i, label_from_pixels(image)] = 1.0
        else:
            out[i, 0] = 1.0
    return out


def _validator(pairs, root, size=12):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FaceNotFoundWarning)
        return make_validator(str(pairs), str(root), tiny_model(size=size))


def test_perfect_embedding_scores_one(lfw):
    root, pairs = lfw
    validator = _validator(pairs, root)
    assert len(validator) == 6 and validator.pixels.shape == (7, 12, 12, 3)
    calls = []

    def embed(batch):
        calls.append(batch.shape[0])
        return _oracle(batch)

    scores = validator(embed, batch_size=3)
    assert calls == [3, 3, 3]  # 7 images, the last batch padded to a static shape
    assert scores["accuracy"] == 1.0
    assert scores["mean_distance_same"] == 0.0 and scores["mean_distance_different"] == 2.0
    assert 0.0 <= scores["threshold"] < 2.0


def test_constant_embedding_scores_chance(lfw):
    root, pairs = lfw
    validator = _validator(pairs, root)
    scores = validator(lambda b: np.ones((len(b), 4), np.float32), batch_size=4)
    assert scores["accuracy"] == 0.5


@pytest.mark.slow
def test_real_devtest_loads(shared_data):
    lfw_dir = shared_data / "lfw"
    validator = make_validator(
        str(lfw_dir / "pairsDevTest.txt"), str(lfw_dir / "lfw-deepfunneled"), create_model("nn4")
    )
    assert len(validator) == 1000
