"""The three tasks on one embedding: verification, identification and clustering."""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

from facenet_tf.distances import pair_distances, pairwise_distances
from facenet_tf.embedding_input import embeddings_or_none
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.clustering import cluster_embeddings
from facenet_tf.eval.graph_clustering import DEFAULT_ALGORITHM, DEFAULT_K, graph_cluster
from facenet_tf.inference import embed, get_embedder
from facenet_tf.thresholds import checked_threshold, default_threshold_of, far_threshold

UNKNOWN = "unknown"


def default_threshold(
    model: str | os.PathLike | keras.Model | None = None, *, allow_untrained: bool = False
) -> float:
    """The squared-L2 threshold calibrated for ``model`` on LFW view-1 DevTrain pairs.

    Falls back to the paper's 1.242 for models that have not been calibrated.
    """
    return default_threshold_of(get_embedder(model, allow_untrained=allow_untrained).name)


def decision_threshold(
    threshold: float | None = None,
    far: float | None = None,
    model: str | os.PathLike | keras.Model | None = None,
    allow_untrained: bool = False,
) -> float:
    """The squared-L2 threshold ``verify`` and ``identify`` decide with: ``threshold`` as
    given, else the model's calibrated threshold at false-accept rate ``far``
    (``facenet_tf.thresholds.far_threshold``), else ``default_threshold(model)``.

    Raises:
        InvalidInputError: both ``threshold`` and ``far`` given; ``far`` not calibrated
            for the model (the message lists the calibrated FARs).
    """
    if threshold is not None and far is not None:
        raise InvalidInputError(f"pass threshold ({threshold!r}) or far ({far!r}), not both")
    if far is not None:
        name = get_embedder(model, allow_untrained=allow_untrained).name
        return far_threshold(name, far)
    if threshold is None:
        return default_threshold(model, allow_untrained=allow_untrained)
    return checked_threshold(threshold)


def _as_embeddings(
    x: Any, model, aligned: bool, name: str, allow_untrained: bool = False
) -> np.ndarray:
    """Embeddings of ``x``: vectors as they are, by ``facenet_tf.embedding_input``'s one
    rule; anything else is images, embedded with ``model``."""
    embedder = get_embedder(model, allow_untrained=allow_untrained)
    vectors = embeddings_or_none(x, embedder.embedding_dim, embedder.name, name)
    if vectors is not None:
        return vectors
    return embed(x, model=embedder, aligned=aligned)


def verify(
    a: Any,
    b: Any,
    threshold: float | None = None,
    model: str | os.PathLike | keras.Model | None = None,
    aligned: bool = False,
    allow_untrained: bool = False,
    far: float | None = None,
) -> tuple[bool, float]:
    """Decides whether two faces show the same person.

    Args:
        a: one face: an image path, an image array, or a unit-length embedding [D].
        b: the other face, likewise.
        threshold: squared-L2 decision threshold; None uses ``far``'s threshold, or
            ``default_threshold(model)`` when ``far`` is None too.
        model, aligned, allow_untrained: as in ``embed``.
        far: a calibrated false-accept rate (e.g. 1e-3): decide with the model's
            threshold at that FAR (``facenet_tf.thresholds.far_threshold``). Only the
            calibrated FARs are accepted; not together with ``threshold``.

    Returns:
        (same, distance): ``distance <= threshold`` and the squared L2 distance between
        the L2-normalised embeddings (``facenet_tf.distances.pair_distances``, as the
        evaluation computes it).
    """
    t = decision_threshold(threshold, far, model, allow_untrained)
    ea = _as_embeddings(a, model, aligned, "a", allow_untrained)
    eb = _as_embeddings(b, model, aligned, "b", allow_untrained)
    if len(ea) != 1 or len(eb) != 1:
        raise InvalidInputError(
            f"verify compares one face with one face; got {len(ea)} and {len(eb)}"
        )
    d = float(pair_distances(ea, eb, "squared_l2")[0])
    return d <= t, d


def identify(
    queries: Any,
    gallery_embeddings: np.ndarray,
    gallery_labels: Any,
    k: int = 1,
    threshold: float | None = None,
    model: str | os.PathLike | keras.Model | None = None,
    aligned: bool = False,
    allow_untrained: bool = False,
    far: float | None = None,
) -> list[dict]:
    """k-nearest-neighbour identification against a gallery, with an "unknown" answer.

    Args:
        queries: images (as in ``embed``) or unit-length embeddings [Q, D].
        gallery_embeddings: float [G, D].
        gallery_labels: G labels (any JSON-friendly values).
        k: neighbours returned per query.
        threshold: a nearest neighbour farther than this (squared L2 between the
            L2-normalised embeddings) gives "unknown"; None uses ``far``'s threshold, or
            ``default_threshold(model)`` when ``far`` is None too.
        model, aligned, allow_untrained: as in ``embed``.
        far: a calibrated false-accept rate (e.g. 1e-3): "unknown" beyond the model's
            threshold at that FAR (``facenet_tf.thresholds.far_threshold``; the FAR is
            per query-gallery pair, so a gallery of G others is passed by an impostor
            with probability up to about G * far); not together with ``threshold``.

    Returns:
        One dict per query: ``label`` (the nearest gallery label, or "unknown"),
        ``distance`` (to the nearest) and ``neighbors``: k (label, distance) pairs.
    """
    gallery = np.asarray(gallery_embeddings, dtype=np.float32)
    labels = list(gallery_labels)
    if gallery.ndim != 2 or len(gallery) == 0:
        raise InvalidInputError(
            f"gallery_embeddings: expected [G, D] with G > 0, got {gallery.shape}"
        )
    if len(labels) != len(gallery):
        raise InvalidInputError(
            f"gallery_labels: {len(labels)} labels for {len(gallery)} gallery embeddings"
        )
    if not np.isfinite(gallery).all():
        raise InvalidInputError("gallery_embeddings: contain NaN or infinite values")
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    t = decision_threshold(threshold, far, model, allow_untrained)
    q = _as_embeddings(queries, model, aligned, "queries", allow_untrained)
    if q.shape[-1] != gallery.shape[-1]:
        raise InvalidInputError(f"queries have D={q.shape[-1]}, gallery D={gallery.shape[-1]}")
    k = min(k, len(gallery))
    # The distance of the identification evaluation (facenet_tf.eval.identification).
    d = pairwise_distances(q, gallery, "squared_l2")
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    results = []
    for row, idx in zip(d, order, strict=True):
        neighbors = [(labels[j], float(row[j])) for j in idx]
        best_label, best_d = neighbors[0]
        results.append(
            {
                "label": best_label if best_d <= t else UNKNOWN,
                "distance": best_d,
                "neighbors": neighbors,
            }
        )
    return results


CLUSTER_METHODS = ("auto", "agglomerative", "graph", "dbscan", "kmeans")
# The default clustering thresholds, as fractions of the model's verify threshold: a chain
# of links (graph) or an average over a growing cluster (agglomerative) merges two people
# long before any one pair is misjudged. Both chosen on CelebA (LFW-disjoint people) by
# BCubed F; see docs/clustering.md. Graph: on all 21k CelebA faces; agglomerative: on
# random 200 to 4,000-face subsets (the factor whose worst size scores best).
AGGLOMERATIVE_THRESHOLD_SCALE = 0.8
GRAPH_THRESHOLD_SCALE = 0.6
# method="auto" clusters up to this many faces with all-pairs agglomerative clustering and
# larger sets with the graph method: on CelebA subsets agglomerative scores higher below
# about 2,000 faces, the two tie at 2,000 and the graph method scores higher at 4,000.
AUTO_GRAPH_ABOVE = 2_000
# With n_clusters (which the graph method cannot honour), "auto" runs agglomerative up to
# this many faces and refuses above: agglomerative peaks at about 25 N^2 bytes (0.6 GB and
# about a second at 5,000 faces; 2.4 GB and 9 s at 10,000; 250 GB at 100,000).
AUTO_N_CLUSTERS_MAX = 5_000


def cluster(
    images_or_embeddings: Any,
    method: str = "auto",
    threshold: float | None = None,
    n_clusters: int | None = None,
    min_samples: int = 2,
    model: str | os.PathLike | keras.Model | None = None,
    aligned: bool = False,
    allow_untrained: bool = False,
    *,
    k: int = DEFAULT_K,
    graph_algorithm: str = DEFAULT_ALGORITHM,
    progress: bool = False,
) -> np.ndarray:
    """Groups faces by identity, with the evaluation's algorithms
    (``facenet_tf.eval.clustering.cluster_embeddings``,
    ``facenet_tf.eval.graph_clustering.graph_cluster``): rows L2-normalised, squared L2.

    Args:
        images_or_embeddings: images (as in ``embed``) or unit-length embeddings [N, D]
            (a float array with D columns whose rows are not unit vectors is refused as
            ambiguous).
        method: "auto" (default: "agglomerative" up to ``AUTO_GRAPH_ABOVE`` faces,
            "graph" above; with ``n_clusters``, "agglomerative" up to
            ``AUTO_N_CLUSTERS_MAX`` faces), "agglomerative" (average linkage, as in the paper; merges
            while the linkage distance is below ``threshold``, or down to ``n_clusters``;
            N x N memory), "graph" (the ``k`` nearest neighbours within ``threshold``
            are linked and the graph split by ``graph_algorithm``; O(N k) memory),
            "dbscan" (neighbours within ``threshold``; noise gets label -1) or "kmeans"
            (needs ``n_clusters``; seed 0).
        threshold: squared-L2 distance below which faces join; None uses
            ``default_threshold(model)`` times ``AGGLOMERATIVE_THRESHOLD_SCALE`` for
            "agglomerative", ``GRAPH_THRESHOLD_SCALE`` for "graph", as is for "dbscan".
        n_clusters: fixed number of clusters (agglomerative, where it replaces
            ``threshold``; kmeans). "auto" accepts it only up to
            ``AUTO_N_CLUSTERS_MAX`` faces; "graph" never.
        min_samples: DBSCAN's core-point size.
        model, aligned, allow_untrained: as in ``embed``.
        k: graph: neighbours per face.
        graph_algorithm: graph: "chinese_whispers" or "connected_components".
        progress: graph: a progress bar over the neighbour search on stderr.

    Returns:
        int64 [N] cluster labels (-1 = DBSCAN noise).
    """
    if method not in CLUSTER_METHODS:
        raise InvalidInputError(f"method must be one of {CLUSTER_METHODS}, got {method!r}")
    x = _as_embeddings(
        images_or_embeddings, model, aligned, "images_or_embeddings", allow_untrained
    )
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    if method == "auto":
        if n_clusters and len(x) > AUTO_N_CLUSTERS_MAX:
            raise InvalidInputError(
                f"n_clusters with {len(x)} faces: method='auto' runs agglomerative (N x N "
                f"memory) on at most {AUTO_N_CLUSTERS_MAX} faces, and the graph method finds "
                "the number of clusters itself; pass method='kmeans' (or 'agglomerative')"
            )
        method = "agglomerative" if n_clusters or len(x) <= AUTO_GRAPH_ABOVE else "graph"
    if method == "graph" and n_clusters:
        raise InvalidInputError("method='graph' finds the number of clusters; drop n_clusters")
    if method == "kmeans" or (method == "agglomerative" and n_clusters):
        if not n_clusters:
            raise InvalidInputError("method='kmeans' needs n_clusters")
        return cluster_embeddings(x, method, n_clusters=n_clusters)
    if threshold is None:
        threshold = default_threshold(model, allow_untrained=allow_untrained)
        if method == "graph":
            threshold *= GRAPH_THRESHOLD_SCALE
        elif method == "agglomerative":
            threshold *= AGGLOMERATIVE_THRESHOLD_SCALE
    t = checked_threshold(threshold)
    if method == "graph":
        return graph_cluster(x, t, k=k, algorithm=graph_algorithm, progress=progress)
    if method == "dbscan":
        return cluster_embeddings(x, "dbscan", eps=t, min_samples=min_samples)
    return cluster_embeddings(x, "agglomerative", distance_threshold=t)
