"""Clustering of face embeddings and clustering quality metrics.

Methods (scikit-learn): agglomerative (as in the paper; average linkage on squared L2 by
default), k-means, DBSCAN and HDBSCAN. Metrics compare a predicted partition with the
identities: pairwise precision / recall / F1, BCubed precision / recall / F, NMI, and the
number of clusters found against the number of identities.

Noise points (label -1 from DBSCAN/HDBSCAN) are scored as singleton clusters: they are
never "together" with anything, which is what a user of the clustering would see.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from facenet_tf.distances import l2_normalize, pairwise_distances
from facenet_tf.errors import InvalidInputError

METHODS = ("agglomerative", "kmeans", "dbscan", "hdbscan")
NOISE = -1


def _squared_l2(unit: np.ndarray) -> np.ndarray:
    """Squared L2 distances float64 [N, N] between rows normalised by the caller."""
    return pairwise_distances(unit, unit, "squared_l2", normalize=False)


def cluster_embeddings(
    embeddings: np.ndarray,
    method: str = "agglomerative",
    n_clusters: int | None = None,
    distance_threshold: float | None = None,
    linkage: str = "average",
    eps: float = 0.5,
    min_samples: int = 2,
    min_cluster_size: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Clusters unit-normalised embeddings.

    Args:
        embeddings: float [N, D]; rows are L2-normalised first.
        method: "agglomerative", "kmeans", "dbscan" or "hdbscan".
        n_clusters: number of clusters (required for k-means; for agglomerative, give this
            or ``distance_threshold``).
        distance_threshold: agglomerative: merge while the linkage distance (squared L2,
            e.g. a verification threshold) is below it.
        linkage: agglomerative linkage: "average", "complete", "single" (squared-L2
            distances) or "ward" (Euclidean).
        eps: DBSCAN neighbourhood radius in squared L2.
        min_samples: DBSCAN/HDBSCAN core-point neighbourhood size.
        min_cluster_size: HDBSCAN smallest cluster.
        seed: k-means seed.

    Returns:
        int64 [N] cluster ids (0..K-1; -1 marks noise for DBSCAN/HDBSCAN).
    """
    from sklearn import cluster

    x = l2_normalize(np.asarray(embeddings, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidInputError(f"embeddings: need [N >= 2, D], got {x.shape}")
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
    if method == "agglomerative":
        if (n_clusters is None) == (distance_threshold is None):
            raise InvalidInputError(
                "agglomerative: give exactly one of n_clusters, distance_threshold"
            )
        if linkage == "ward":
            model = cluster.AgglomerativeClustering(
                n_clusters=n_clusters, distance_threshold=distance_threshold, linkage="ward"
            )
            return model.fit_predict(x).astype(np.int64)
        model = cluster.AgglomerativeClustering(
            n_clusters=n_clusters,
            distance_threshold=distance_threshold,
            metric="precomputed",
            linkage=linkage,
        )
        return model.fit_predict(_squared_l2(x)).astype(np.int64)
    if method == "kmeans":
        if not n_clusters:
            raise InvalidInputError("kmeans: n_clusters is required")
        model = cluster.KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
        return model.fit_predict(x).astype(np.int64)
    if method == "dbscan":
        model = cluster.DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed")
        return model.fit_predict(_squared_l2(x)).astype(np.int64)
    model = cluster.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
    return model.fit_predict(x).astype(np.int64)


def _codes(labels: Sequence[Hashable], noise_singletons: bool) -> np.ndarray:
    """Integer codes; with ``noise_singletons`` every -1 becomes its own code."""
    out = np.empty(len(labels), dtype=np.int64)
    table: dict[Hashable, int] = {}
    for i, lab in enumerate(labels):
        if noise_singletons and lab == NOISE:
            out[i] = len(table)
            table[("__noise__", i)] = out[i]
        else:
            out[i] = table.setdefault(lab, len(table))
    return out


def _contingency(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """The non-zero cells of the identity x cluster table, sparse (a dense table of 100,000
    identities by 100,000 clusters would take 80 GB): (identity, cluster, count) int64 [C]."""
    cells, counts = np.unique(truth * (pred.max() + 1) + pred, return_counts=True)
    return cells // (pred.max() + 1), cells % (pred.max() + 1), counts.astype(np.int64)


def _pairs(n: np.ndarray) -> float:
    return float((n * (n - 1) // 2).sum())


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ClusteringScores:
    """Quality of a partition against identities (fractions in [0, 1] except counts).

    Pairwise precision is 1 when no pair was put together (nothing claimed, nothing wrong);
    pairwise recall is 1 when no two items share an identity.
    """

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    nmi: float
    num_clusters: int
    num_identities: int
    num_noise: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def clustering_scores(identities: Sequence[Hashable], clusters: Sequence[int]) -> ClusteringScores:
    """Scores a clustering against the true identities.

    Args:
        identities: N identity labels.
        clusters: N cluster ids (-1 = noise, scored as singletons).

    Returns:
        ClusteringScores.
    """
    from sklearn.metrics import normalized_mutual_info_score

    identities, clusters = list(identities), [int(c) for c in clusters]
    if len(identities) != len(clusters) or not identities:
        raise InvalidInputError(f"{len(identities)} identities vs {len(clusters)} cluster ids")
    t = _codes(identities, noise_singletons=False)
    c = _codes(clusters, noise_singletons=True)
    ti, ci, cell = _contingency(t, c)
    per_identity, per_cluster = np.bincount(t), np.bincount(c)
    together_both = _pairs(cell)
    together_pred = _pairs(per_cluster)
    together_true = _pairs(per_identity)
    p = together_both / together_pred if together_pred else 1.0
    r = together_both / together_true if together_true else 1.0
    # BCubed: item i's precision is |C(i) & L(i)| / |C(i)|; the contingency cell n_tc holds
    # n_tc items each with overlap n_tc, so sums over items become sums of n_tc^2.
    sq = cell.astype(np.float64) ** 2
    n = float(len(identities))
    bp = float((sq / per_cluster[ci]).sum() / n)
    br = float((sq / per_identity[ti]).sum() / n)
    return ClusteringScores(
        pairwise_precision=p,
        pairwise_recall=r,
        pairwise_f1=_f(p, r),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_f(bp, br),
        nmi=float(normalized_mutual_info_score(t, c)),
        num_clusters=len({x for x in clusters if x != NOISE}),
        num_identities=len(set(identities)),
        num_noise=sum(x == NOISE for x in clusters),
    )
