"""The shipped harmonic model: pinned weights, its registry facts, and its vectors on the
bundled example photos (6 people, raw LFW photos) within its own space and against
``dlib_resnet_v1``'s, whose space it shares.

References: the file's pinned sha256, the examples' folder names (identity ground truth)
and the thresholds calibrated on LFW view-1 DevTrain (``thresholds.json``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import facenet_tf
from facenet_tf.errors import InvalidInputError
from facenet_tf.models.registry import get_model_info
from facenet_tf.models.spec import model_spec, shared_space
from facenet_tf.pretrained.cache import ChecksumError, sha256_file
from facenet_tf.pretrained.shipped import load_shipped_weights, shipped_weights_path

NAME = "mobilefacenet_harmonic_dlib"
# sha256 of facenet_tf/pretrained/weights/mobilefacenet_harmonic_dlib.npz as released.
WEIGHTS_FILE_SHA256 = "593a511e10a699bcdff31b19a3bf2d24ba4b8bedbd55c9a9849782b92bf37ddc"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "faces"
FILES = sorted(EXAMPLES.glob("*/*.jpg"))
IDENTITIES = np.unique([f.parent.name for f in FILES], return_inverse=True)[1]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return facenet_tf.embed(FILES, model=NAME)


@pytest.fixture(scope="module")
def reference_vectors() -> np.ndarray:
    return facenet_tf.embed(FILES, model="dlib_resnet_v1")


def test_shipped_file_is_the_released_one():
    path = shipped_weights_path(NAME)
    assert path.is_file(), f"{path} is not in the package"
    assert sha256_file(path) == WEIGHTS_FILE_SHA256
    assert path.stat().st_size < 5 * 2**20  # a few MB inside the wheel


def test_registered_as_harmonic_with_the_default_model():
    info = get_model_info(NAME)
    assert info.pretrained_weights and info.compatible_with == "dlib_resnet_v1"
    assert "non-commercial" in info.license and "CelebA" in info.license
    assert model_spec(NAME).template == "mobile_112"
    assert shared_space(NAME, "dlib_resnet_v1") and shared_space("dlib_resnet_v1", NAME)
    assert not shared_space("mobilefacenet", "dlib_resnet_v1")
    assert not shared_space(NAME, "no_such_model")


def test_damaged_weights_are_refused(tmp_path):
    damaged = tmp_path / f"{NAME}.npz"
    with np.load(shipped_weights_path(NAME)) as data:
        arrays = {k: data[k] for k in data.files}
    key = sorted(arrays)[0]
    arrays[key] = arrays[key] + np.float32(1e-3)
    np.savez(damaged, **arrays)
    model = facenet_tf.create_model(NAME)
    with pytest.raises(ChecksumError, match=str(damaged)):
        load_shipped_weights(model, NAME, damaged)
    truncated = tmp_path / "truncated.npz"
    shutil.copyfile(shipped_weights_path(NAME), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match="truncated.npz"):
        load_shipped_weights(model, NAME, truncated)


def test_weights_need_the_matching_architecture():
    with pytest.raises(InvalidInputError, match="128-D"):
        facenet_tf.create_model(NAME, embedding_dim=64, pretrained=True)
    other = facenet_tf.create_model("mobilefacenet", embedding_dim=64)
    with pytest.raises(InvalidInputError, match="embedding_dense"):
        load_shipped_weights(other, NAME)


def test_embeds_the_examples_as_unit_vectors(vectors):
    assert vectors.shape == (len(FILES), 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.xfail(
    strict=True,
    reason="the shipped model scores 90.7% on LFW (dlib_resnet_v1: 99.2%); its default "
    "clustering of the examples puts one Hugo Chavez and one Tony Blair photo together "
    "(adjusted Rand 0.88)",
)
def test_clusters_the_examples_into_the_six_people(vectors):
    labels = facenet_tf.cluster(vectors, model=NAME)
    same = labels[:, None] == labels[None]
    assert (same == (IDENTITIES[:, None] == IDENTITIES[None])).all()


def test_clustering_of_the_examples_as_measured(vectors):
    # Golden figure of the released weights (adjusted Rand index 0.881 with cluster()'s
    # defaults at the calibrated threshold: 4 people exact, one photo each of the other
    # two in a cluster of their own); a regression drops it below 0.8.
    from sklearn.metrics import adjusted_rand_score

    labels = facenet_tf.cluster(vectors, model=NAME)
    assert adjusted_rand_score(IDENTITIES, labels) >= 0.8


def test_vectors_are_comparable_with_the_reference(vectors, reference_vectors):
    from facenet_tf.thresholds import cross_model_threshold

    cross = ((vectors[:, None] - reference_vectors[None]) ** 2).sum(-1)  # [N, N] brute force
    # Each reference vector's nearest new vector is one of the same person, and each new
    # vector's nearest reference vector (measured: 24 of 24 both ways).
    assert (IDENTITIES[cross.argmin(axis=0)] == IDENTITIES).all()
    assert (IDENTITIES[cross.argmin(axis=1)] == IDENTITIES).all()
    threshold = cross_model_threshold(NAME, "dlib_resnet_v1")
    assert threshold == pytest.approx(0.1993)  # LFW view-1 DevTrain, thresholds.json
    assert threshold == cross_model_threshold("dlib_resnet_v1", NAME)
    # The same photo embedded by both models is a same-person pair (max measured 0.160).
    assert (np.diag(cross) <= threshold).all()
