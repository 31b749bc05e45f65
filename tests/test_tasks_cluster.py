"""``facenet_tf.cluster``'s methods "auto" and "graph" on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

import facenet_tf
from facenet_tf import tasks
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.clustering import cluster_embeddings
from facenet_tf.eval.graph_clustering import graph_cluster
from facenet_tf.inference import Embedder
from tests.test_inference import _model


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(_model())  # D = 8


def _loose_groups(seed: int, n: int = 60) -> np.ndarray:
    """float32 [n, 8] unit rows in loose groups, where the methods disagree."""
    rng = np.random.default_rng(seed)
    x = np.repeat(rng.normal(size=(n // 6, 8)), 6, axis=0) + 0.6 * rng.normal(size=(n, 8))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_auto_is_agglomerative_up_to_the_switch_and_graph_above(embedder, monkeypatch):
    x = _loose_groups(0)
    t = 0.6
    agglomerative = cluster_embeddings(x, "agglomerative", distance_threshold=t)
    graph = graph_cluster(x, t)
    together = [labels[:, None] == labels[None] for labels in (agglomerative, graph)]
    assert (together[0] != together[1]).any()  # the two differ here: the switch is visible
    monkeypatch.setattr(tasks, "AUTO_GRAPH_ABOVE", len(x))
    np.testing.assert_array_equal(facenet_tf.cluster(x, threshold=t, model=embedder), agglomerative)
    monkeypatch.setattr(tasks, "AUTO_GRAPH_ABOVE", len(x) - 1)
    np.testing.assert_array_equal(facenet_tf.cluster(x, threshold=t, model=embedder), graph)


def test_graph_method_is_the_evaluation_graph_clustering(embedder):
    x = _loose_groups(1)
    for algorithm in ("chinese_whispers", "connected_components"):
        got = facenet_tf.cluster(
            x, method="graph", threshold=0.7, k=5, graph_algorithm=algorithm, model=embedder
        )
        want = graph_cluster(x, 0.7, k=5, algorithm=algorithm)
        np.testing.assert_array_equal(got, want)


def test_graph_default_threshold_is_a_fraction_of_verifys(embedder):
    x = _loose_groups(2)
    t = tasks.GRAPH_THRESHOLD_SCALE * facenet_tf.default_threshold(embedder)
    np.testing.assert_array_equal(
        facenet_tf.cluster(x, method="graph", model=embedder), graph_cluster(x, t)
    )


def test_agglomerative_default_threshold_is_a_fraction_of_verifys(embedder):
    x = _loose_groups(4)
    t = tasks.AGGLOMERATIVE_THRESHOLD_SCALE * facenet_tf.default_threshold(embedder)
    want = cluster_embeddings(x, "agglomerative", distance_threshold=t)
    verify_cut = cluster_embeddings(x, "agglomerative", distance_threshold=t / 0.8)
    assert len(set(want.tolist())) != len(set(verify_cut.tolist()))  # the scale is visible
    np.testing.assert_array_equal(facenet_tf.cluster(x, model=embedder), want)
    np.testing.assert_array_equal(
        facenet_tf.cluster(x, method="agglomerative", model=embedder), want
    )
    # an explicit threshold is used as given
    np.testing.assert_array_equal(
        facenet_tf.cluster(x, method="agglomerative", threshold=0.6, model=embedder),
        cluster_embeddings(x, "agglomerative", distance_threshold=0.6),
    )


def test_default_scales_are_the_celeba_choices():
    # docs/clustering.md: chosen on CelebA (agglomerative on 200..4,000-face subsets, the
    # graph on all of it); the switch where the two tie on the subsets.
    assert tasks.AGGLOMERATIVE_THRESHOLD_SCALE == 0.8
    assert tasks.GRAPH_THRESHOLD_SCALE == 0.6
    assert tasks.AUTO_GRAPH_ABOVE == 2_000
    assert tasks.AUTO_N_CLUSTERS_MAX == 5_000


def test_n_clusters_is_refused_where_the_graph_method_runs(embedder, monkeypatch):
    x = _loose_groups(3)
    with pytest.raises(InvalidInputError, match="n_clusters"):
        facenet_tf.cluster(x, method="graph", n_clusters=4, model=embedder)
    # auto gives n_clusters its agglomerative meaning up to AUTO_N_CLUSTERS_MAX faces,
    # also above the switch to the graph method
    monkeypatch.setattr(tasks, "AUTO_GRAPH_ABOVE", 10)
    np.testing.assert_array_equal(
        facenet_tf.cluster(x, n_clusters=4, model=embedder),
        cluster_embeddings(x, "agglomerative", n_clusters=4),
    )
    monkeypatch.setattr(tasks, "AUTO_N_CLUSTERS_MAX", 10)
    with pytest.raises(InvalidInputError, match="kmeans"):
        facenet_tf.cluster(x, n_clusters=4, model=embedder)
