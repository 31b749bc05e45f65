"""Graph clustering against brute-force numpy references and hand-built graphs; BCubed
against its per-item definition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import clustering as C
from facenet_tf.eval import graph_clustering as G


def _unit(rng, n, dim):
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference_components(x: np.ndarray, t: float) -> np.ndarray:
    """Components of the thresholded all-pairs graph by repeated flood fill (numpy only)."""
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    adj = d <= t
    labels = np.full(len(x), -1)
    for seed in range(len(x)):
        if labels[seed] >= 0:
            continue
        member = np.zeros(len(x), bool)
        member[seed] = True
        while True:
            grown = adj[member].any(axis=0) | member
            if (grown == member).all():
                break
            member = grown
        labels[member] = seed
    return labels


def _gap_threshold(x: np.ndarray, quantile: float) -> float:
    """A threshold near the ``quantile`` of the pair distances, in the middle of the widest
    gap there, so that float32 rounding cannot move a pair across it."""
    d = np.sort(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)[np.triu_indices(len(x), 1)])
    lo = int(quantile * len(d))
    window = d[max(lo - 20, 0) : lo + 20]
    g = int(np.argmax(np.diff(window)))
    return float((window[g] + window[g + 1]) / 2)


def _same_partition(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return bool(((a[:, None] == a[None]) == (b[:, None] == b[None])).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("quantile", [0.003, 0.01, 0.025])
def test_components_with_full_k_equal_thresholded_all_pairs(seed, quantile):
    rng = np.random.default_rng(seed)
    x = _unit(rng, 80, 6)
    t = _gap_threshold(x, quantile)
    want = _reference_components(x, t)
    got = G.graph_cluster(x, t, k=len(x) - 1, algorithm="connected_components", index="exact")
    assert _same_partition(got, want)
    assert 1 < len(set(got.tolist())) < len(x)  # the threshold matters


def test_graph_edges_are_exactly_the_pairs_within_threshold():
    rng = np.random.default_rng(3)
    x = _unit(rng, 50, 5)
    t = _gap_threshold(x, 0.05)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    want = (d <= t) & ~np.eye(len(x), dtype=bool)
    g = G.knn_graph(x, t, k=len(x) - 1, index="exact")
    np.testing.assert_array_equal(g.toarray() > 0, want)
    np.testing.assert_allclose(g.toarray()[want], d[want], rtol=1e-5, atol=1e-6)


def test_small_k_keeps_only_each_faces_nearest():
    rng = np.random.default_rng(4)
    x = _unit(rng, 40, 4)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :3]
    want = np.zeros_like(d, dtype=bool)
    want[np.arange(40)[:, None], nearest] = True
    want |= want.T  # an edge when either face has the other among its 3 nearest
    g = G.knn_graph(x, 4.0, k=3, index="exact")
    np.testing.assert_array_equal(g.toarray() > 0, want)


def _two_cliques(weak: float) -> sp.csr_matrix:
    """Cliques {0..4} and {5..9}, weights 1, joined by one edge (4, 5) of weight ``weak``."""
    w = np.zeros((10, 10))
    w[:5, :5] = w[5:, 5:] = 1.0
    np.fill_diagonal(w, 0.0)
    w[4, 5] = w[5, 4] = weak
    return sp.csr_matrix(w)


@pytest.mark.parametrize("blocks", [1, 3, 256])
@pytest.mark.parametrize("seed", range(5))
def test_chinese_whispers_splits_two_cliques_joined_by_a_weak_edge(seed, blocks):
    g = _two_cliques(0.1)
    labels = G.chinese_whispers(g, seed=seed, blocks=blocks)
    np.testing.assert_array_equal(labels, [0] * 5 + [1] * 5)
    # connected components cannot tell them apart
    np.testing.assert_array_equal(G.connected_components(g), [0] * 10)


def test_chinese_whispers_isolated_faces_and_disjoint_parts():
    w = np.zeros((7, 7))
    for a, b in [(0, 1), (1, 2), (0, 2), (4, 5)]:
        w[a, b] = w[b, a] = 1.0
    labels = G.chinese_whispers(sp.csr_matrix(w))
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 2, 2, 3])


def test_graph_clustering_is_deterministic():
    rng = np.random.default_rng(5)
    centres = _unit(rng, 30, 16)
    x = centres.repeat(10, axis=0) + 0.25 * rng.normal(size=(300, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for algorithm in G.ALGORITHMS:
        runs = [G.graph_cluster(x, 0.6, k=10, algorithm=algorithm) for _ in range(3)]
        assert all((r == runs[0]).all() for r in runs)
        # canonical numbering: ids appear in order of each cluster's first face
        first = [int(np.flatnonzero(runs[0] == c)[0]) for c in range(runs[0].max() + 1)]
        assert first == sorted(first)


def test_graph_recovers_separable_identities_with_both_indexes():
    rng = np.random.default_rng(6)
    centres = _unit(rng, 40, 32)
    truth = np.repeat(np.arange(40), 12)
    x = centres[truth] + 0.03 * rng.normal(size=(len(truth), 32))
    for index in ("exact", "ivf"):
        for algorithm in G.ALGORITHMS:
            found = G.graph_cluster(x, 0.5, k=8, algorithm=algorithm, index=index)
            s = C.clustering_scores(truth, found)
            assert s.pairwise_f1 == 1.0 and s.num_clusters == 40


def test_canonical_labels():
    np.testing.assert_array_equal(G.canonical_labels([7, 7, 3, 9, 3]), [0, 0, 1, 2, 1])


def test_bad_arguments():
    x = np.eye(4)
    with pytest.raises(InvalidInputError, match="algorithm"):
        G.graph_cluster(x, 0.5, algorithm="louvain")
    with pytest.raises(InvalidInputError, match="k must"):
        G.graph_cluster(x, 0.5, k=0)
    with pytest.raises(InvalidInputError, match="index"):
        G.graph_cluster(x, 0.5, index="hnsw")
    with pytest.raises(InvalidInputError, match="NaN"):
        G.graph_cluster(np.full((3, 4), np.nan), 0.5)


@pytest.mark.parametrize("method", ["graph", "agglomerative", "dbscan"])
@pytest.mark.parametrize("threshold", [float("nan"), -0.5])
def test_nan_or_negative_threshold_is_refused(method, threshold):
    # Such a threshold links no two faces: every face alone, a plausible wrong answer.
    from facenet_tf import tasks

    x = np.repeat(np.eye(4, 128), 3, axis=0)  # four identities, three identical faces each
    with pytest.raises(InvalidInputError, match="threshold"):
        G.graph_cluster(x, threshold)
    with pytest.raises(InvalidInputError, match="threshold"):
        tasks.cluster(x, threshold=threshold, method=method)
    assert len(set(tasks.cluster(x, threshold=0.5, method=method))) == 4


def _bcubed_brute_force(truth, pred):
    """BCubed from its definition: per item, over all items, with noise as singletons."""
    n = len(truth)
    pred = [p if p != -1 else ("noise", i) for i, p in enumerate(pred)]
    precision = recall = 0.0
    for i in range(n):
        same_c = [j for j in range(n) if pred[j] == pred[i]]
        same_t = [j for j in range(n) if truth[j] == truth[i]]
        both = sum(truth[j] == truth[i] for j in same_c)
        precision += both / len(same_c)
        recall += both / len(same_t)
    return precision / n, recall / n


@pytest.mark.parametrize("seed", range(6))
def test_bcubed_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    truth = rng.integers(0, max(1, n // 4), n).tolist()
    pred = rng.integers(-1, max(1, n // 3), n).tolist()
    s = C.clustering_scores(truth, pred)
    p, r = _bcubed_brute_force(truth, pred)
    assert s.bcubed_precision == pytest.approx(p) and s.bcubed_recall == pytest.approx(r)
    assert s.bcubed_f == pytest.approx(2 * p * r / (p + r))
