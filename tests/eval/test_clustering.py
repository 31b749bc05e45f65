"""Clustering metrics against hand-computed cases, and the methods on separable blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import clustering as C


def test_scores_hand_computed():
    # truth {1,2,3}{4,5}; predicted {1,2}{3,4,5}
    s = C.clustering_scores(["a", "a", "a", "b", "b"], [0, 0, 1, 1, 1])
    # pairs together in both: (1,2), (4,5) = 2; predicted pairs 1 + 3 = 4; true pairs 3 + 1 = 4
    assert (s.pairwise_precision, s.pairwise_recall, s.pairwise_f1) == (0.5, 0.5, 0.5)
    # BCubed per item: p = 1, 1, 1/3, 2/3, 2/3 ; r = 2/3, 2/3, 1/3, 1, 1
    assert s.bcubed_precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert s.bcubed_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert s.bcubed_f == pytest.approx(11 / 15)
    # NMI (arithmetic mean): H(T) = H(C) = H(0.6, 0.4);
    # MI = 0.4 ln(0.4 / 0.24) + 0.2 ln(0.2 / 0.36) + 0.4 ln(0.4 / 0.24)
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    mi = 0.8 * math.log(0.4 / 0.24) + 0.2 * math.log(0.2 / 0.36)
    assert s.nmi == pytest.approx(mi / h)
    assert (s.num_clusters, s.num_identities, s.num_noise) == (2, 2, 0)


def test_perfect_and_all_singletons():
    perfect = C.clustering_scores(["x", "x", "y"], [7, 7, 3])
    assert (
        perfect.pairwise_f1 == 1.0 and perfect.bcubed_f == 1.0 and perfect.nmi == pytest.approx(1.0)
    )
    singles = C.clustering_scores(["x", "x", "y"], [0, 1, 2])
    # nothing put together: precision 1 by convention, recall 0 (1 true pair missed)
    assert (singles.pairwise_precision, singles.pairwise_recall, singles.pairwise_f1) == (
        1.0,
        0.0,
        0.0,
    )
    assert singles.bcubed_precision == 1.0
    assert singles.bcubed_recall == pytest.approx((0.5 + 0.5 + 1) / 3)


def test_noise_points_are_singletons():
    s = C.clustering_scores(["a", "a", "a", "b"], [-1, -1, 0, 0])
    # the two noise points are not together; the one predicted pair (3, 4) is wrong
    assert s.pairwise_precision == 0.0 and s.pairwise_recall == 0.0
    assert (s.num_clusters, s.num_noise) == (1, 2)
    # BCubed precision per item: 1, 1, 1/2, 1/2
    assert s.bcubed_precision == pytest.approx(0.75)


def _blobs(rng, n_ids=5, per_id=8, dim=16, noise=0.05):
    centres = np.eye(dim)[:n_ids]
    x = np.repeat(centres, per_id, axis=0) + noise * rng.normal(size=(n_ids * per_id, dim))
    return x, np.repeat(np.arange(n_ids), per_id)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="agglomerative", n_clusters=5),
        dict(method="agglomerative", distance_threshold=1.0),
        dict(method="agglomerative", n_clusters=5, linkage="ward"),
        dict(method="kmeans", n_clusters=5),
        dict(method="dbscan", eps=0.5),
        dict(method="hdbscan", min_cluster_size=3),
    ],
)
def test_methods_recover_separable_identities(kwargs):
    x, ids = _blobs(np.random.default_rng(0))
    found = C.cluster_embeddings(x, **kwargs)
    s = C.clustering_scores(ids, found)
    assert s.pairwise_f1 == 1.0 and s.bcubed_f == 1.0 and s.num_clusters == 5


def test_bad_arguments():
    x = np.eye(3)
    with pytest.raises(InvalidInputError, match="exactly one"):
        C.cluster_embeddings(x, "agglomerative")
    with pytest.raises(InvalidInputError, match="n_clusters"):
        C.cluster_embeddings(x, "kmeans")
    with pytest.raises(InvalidInputError, match="method"):
        C.cluster_embeddings(x, "spectral")
    with pytest.raises(InvalidInputError, match="identities"):
        C.clustering_scores(["a"], [0, 1])


def test_scores_of_many_identities_and_clusters_need_no_dense_table():
    # 100,000 identities x 100,000 clusters: a dense contingency table would take 80 GB.
    n = 200_000
    truth = np.arange(n) // 2
    pred = np.r_[np.arange(n // 2), np.arange(n // 2)]  # every pair split apart
    s = C.clustering_scores(truth, pred)
    assert (s.pairwise_precision, s.pairwise_recall) == (0.0, 0.0)
    assert s.bcubed_precision == 0.5 and s.bcubed_recall == 0.5
    assert (s.num_clusters, s.num_identities) == (n // 2, n // 2)
