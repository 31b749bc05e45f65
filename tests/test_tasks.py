"""verify / identify / cluster on hand-made embeddings (no model forward needed)."""

from __future__ import annotations

import numpy as np
import pytest

import facenet_tf
from facenet_tf.distances import pairwise_distances
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.clustering import cluster_embeddings
from facenet_tf.eval.identification import probe_ranks
from facenet_tf.inference import Embedder
from tests.test_inference import _model


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(_model())  # D = 8


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_verify_on_embeddings(embedder):
    a = _unit([1, 0, 0, 0, 0, 0, 0, 0])
    b = _unit([1, 1, 0, 0, 0, 0, 0, 0])  # |a - b|^2 = 2 - 2 cos45 = 0.5858
    same, d = facenet_tf.verify(a, b, threshold=0.6, model=embedder)
    assert same and d == pytest.approx(2 - np.sqrt(2), abs=1e-5)
    same, _ = facenet_tf.verify(a, b, threshold=0.5, model=embedder)
    assert not same


def test_verify_rejects_batches_and_wrong_sizes(embedder):
    with pytest.raises(ValueError, match="one face"):
        facenet_tf.verify(
            np.eye(8, dtype=np.float32)[:2], np.eye(8, dtype=np.float32)[0], model=embedder
        )
    with pytest.raises(ValueError, match="size"):
        facenet_tf.verify(np.ones(5, np.float32), np.ones(8, np.float32), model=embedder)


def test_identify_nearest_and_unknown(embedder):
    gallery = np.eye(8, dtype=np.float32)[:3]  # labels x, y, z on three axes
    queries = np.stack([_unit([0.9, 0.1, 0, 0, 0, 0, 0, 0]), _unit([0, 0, 0, 1, 0, 0, 0, 0])])
    res = facenet_tf.identify(queries, gallery, ["x", "y", "z"], k=2, threshold=1.0, model=embedder)
    assert res[0]["label"] == "x"
    assert [n[0] for n in res[0]["neighbors"]] == ["x", "y"]
    expected = float(np.sum((queries[0] - gallery[0]) ** 2))
    assert res[0]["distance"] == pytest.approx(expected, abs=1e-5)
    assert res[1]["label"] == "unknown" and res[1]["distance"] == pytest.approx(2.0, abs=1e-5)


def test_identify_validates_gallery(embedder):
    with pytest.raises(ValueError, match="labels"):
        facenet_tf.identify(
            np.eye(8, dtype=np.float32)[:1], np.eye(8, dtype=np.float32), ["a"], model=embedder
        )
    with pytest.raises(ValueError, match="NaN"):
        facenet_tf.identify(
            np.eye(8, dtype=np.float32)[:1],
            np.full((2, 8), np.nan, np.float32),
            ["a", "b"],
            model=embedder,
        )


@pytest.mark.parametrize("method", ["agglomerative", "dbscan", "kmeans"])
def test_cluster_separates_tight_identities(embedder, method):
    rng = np.random.default_rng(1)
    centres = np.eye(8, dtype=np.float32)[:3]
    x = _unit(np.repeat(centres, 5, axis=0) + 0.05 * rng.normal(size=(15, 8)).astype(np.float32))
    labels = facenet_tf.cluster(
        x,
        method=method,
        threshold=0.5,
        n_clusters=3 if method == "kmeans" else None,
        model=embedder,
    )
    truth = np.repeat([0, 1, 2], 5)
    # Same partition up to renaming: labels and truth define the same pairs.
    assert ((labels[:, None] == labels[None]) == (truth[:, None] == truth[None])).all()


def _loose_groups(seed: int) -> np.ndarray:
    """float32 [30, 8]: 5 loose groups of unit rows (the public tasks take unit vectors;
    a D-wide float array of other rows is refused as ambiguous), so that the threshold's
    scale matters."""
    rng = np.random.default_rng(seed)
    x = np.repeat(rng.normal(size=(5, 8)), 6, axis=0) + 0.6 * rng.normal(size=(30, 8))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(
    ("method", "kwargs", "eval_kwargs"),
    [
        ("agglomerative", {"threshold": 0.6}, {"distance_threshold": 0.6}),
        ("agglomerative", {"threshold": 0.6, "n_clusters": 4}, {"n_clusters": 4}),
        ("dbscan", {"threshold": 0.3, "min_samples": 3}, {"eps": 0.3, "min_samples": 3}),
        ("kmeans", {"n_clusters": 4}, {"n_clusters": 4}),
    ],
)
def test_cluster_is_the_evaluation_clustering(embedder, method, kwargs, eval_kwargs):
    x = _loose_groups(3)
    got = facenet_tf.cluster(x, method=method, model=embedder, **kwargs)
    want = cluster_embeddings(x, method, **eval_kwargs)
    np.testing.assert_array_equal(got, want)
    assert 1 < len(set(got.tolist())) < len(x)  # a partition that depends on the settings


def test_cluster_default_threshold_is_the_evaluation_cut(embedder):
    from facenet_tf.tasks import AGGLOMERATIVE_THRESHOLD_SCALE

    x = _loose_groups(4)
    t = AGGLOMERATIVE_THRESHOLD_SCALE * facenet_tf.default_threshold(embedder)
    np.testing.assert_array_equal(
        facenet_tf.cluster(x, model=embedder),
        cluster_embeddings(x, "agglomerative", distance_threshold=t),
    )


def test_identify_uses_the_evaluation_distance(embedder):
    x = _loose_groups(5)
    gallery, labels, queries = x[::6], [f"id{i}" for i in range(5)], x[1::6]
    res = facenet_tf.identify(queries, gallery, labels, k=5, threshold=4.0, model=embedder)
    d = pairwise_distances(queries, gallery)  # as facenet_tf.eval.identification ranks
    for i, r in enumerate(res):
        assert [n[1] for n in r["neighbors"]] == sorted(d[i].tolist())
        assert r["distance"] == d[i].min() and r["label"] == labels[int(np.argmin(d[i]))]
    ranks = probe_ranks(gallery, labels, queries, labels)
    assert [r["label"] == lab for r, lab in zip(res, labels, strict=True)] == list(ranks == 1)


def test_a_float_image_with_the_models_width_is_never_taken_for_embeddings():
    # [250, 128] float grayscale in [0, 1]: 128 columns like the default model's D, but
    # its rows are not unit vectors, so it is refused as ambiguous instead of clustered
    # as 250 faces.
    import facenet_tf

    rng = np.random.default_rng(0)
    gray = rng.uniform(0, 1, (250, 128))
    with pytest.raises(InvalidInputError, match="not unit vectors"):
        facenet_tf.cluster(gray)
    with pytest.raises(InvalidInputError, match="not unit vectors"):
        facenet_tf.identify(gray, np.eye(128)[:3], ["a", "b", "c"])
    # The same values as unit rows are embeddings; as a list they are an image.
    unit = gray / np.linalg.norm(gray, axis=1, keepdims=True)
    assert facenet_tf.cluster(unit).shape == (250,)
    with pytest.raises(facenet_tf.NoFaceError):
        facenet_tf.cluster([gray])
