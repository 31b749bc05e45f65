"""Clustering on a k-nearest-neighbour graph, in O(N k) memory.

All-pairs agglomerative clustering holds an N x N distance matrix (100,000 faces: 80 GB
in float64). Here every face keeps only its ``k`` nearest neighbours (faiss: an exact
``IndexFlatL2`` up to ``EXACT_MAX`` faces, an inverted-file ``IndexIVFFlat`` above), and of
those only the neighbours within ``threshold`` (squared L2 between the L2-normalised
embeddings, as ``facenet_tf.verify`` decides "same person"). The resulting sparse,
symmetric graph is then split into clusters by

* ``"chinese_whispers"`` (Biemann 2006): every face repeatedly takes the label with the
  largest summed edge weight (cosine similarity ``1 - d / 2``) among its neighbours;
  deterministic (a seeded visiting order, ties to the smaller label);
* ``"connected_components"``: faces joined by any chain of edges (single linkage cut at
  ``threshold``; with ``k >= N - 1`` exactly the components of the thresholded
  all-pairs matrix).

Among the neighbours faiss proposes, the edge distances are recomputed by
``facenet_tf.distances.pair_distances``, so that an edge exists exactly when ``verify``
on the two embeddings at ``threshold`` would say "same".
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from facenet_tf.distances import l2_normalize, pair_distances
from facenet_tf.errors import InvalidInputError
from facenet_tf.thresholds import checked_threshold

ALGORITHMS = ("chinese_whispers", "connected_components")
INDEXES = ("auto", "exact", "ivf")
DEFAULT_ALGORITHM = "chinese_whispers"
# k and the algorithm were chosen on CelebA (docs/clustering.md): k = 16 scored above 8, 32
# and 64 at the chosen threshold, Chinese Whispers above connected components.
DEFAULT_K = 16
# Above this many faces "auto" uses the IVF index: exact search costs N^2 D multiply-adds.
EXACT_MAX = 100_000
# faiss rounds |a|^2 + |b|^2 - 2 a.b in float32; candidates this far above the threshold
# are kept for the exact recomputation, so that rounding never drops an edge.
_CANDIDATE_SLACK = 1e-3
_QUERY_BATCH = 8192
_EDGE_BATCH = 1 << 15


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _index(x: np.ndarray, kind: str, seed: int):
    """A faiss index over float32 [N, D] unit rows."""
    import faiss

    n, dim = x.shape
    if kind == "auto":
        kind = "exact" if n <= EXACT_MAX else "ivf"
    if kind == "exact":
        index = faiss.IndexFlatL2(dim)
    else:
        # 4 sqrt(N) lists (1M faces: 4,000 lists of ~250), 16 of them probed per query;
        # k-means on at most 64 points per list.
        nlist = int(max(1, min(n // 39, 4 * np.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))]
        index.cp.seed = seed
        index.train(sample)
        index.nprobe = min(nlist, 16)
    index.add(x)
    return index


def knn_graph(
    embeddings: np.ndarray,
    threshold: float,
    k: int = DEFAULT_K,
    index: str = "auto",
    seed: int = 0,
    progress: bool = False,
) -> sp.csr_matrix:
    """The thresholded k-nearest-neighbour graph of a set of embeddings.

    Args:
        embeddings: float [N, D]; rows are L2-normalised first.
        threshold: keep an edge where the squared L2 distance is <= this.
        k: neighbours searched per face (besides itself).
        index: "exact" (``IndexFlatL2``), "ivf" (``IndexIVFFlat``, approximate) or
            "auto" (exact up to ``EXACT_MAX`` faces).
        seed: IVF training sample and k-means seed.
        progress: a progress bar over the search on stderr.

    Returns:
        Symmetric float64 [N, N] CSR matrix: entry (i, j) is the squared L2 distance of
        an edge (an edge is kept when either face has the other among its neighbours);
        a distance of exactly 0 is stored as 1e-12 so that it stays an edge.
    """
    x = _check(embeddings)
    if not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    if index not in INDEXES:
        raise InvalidInputError(f"index must be one of {INDEXES}, got {index!r}")
    t = checked_threshold(threshold)
    n = len(x)
    searcher = _index(x, index, seed)
    kk = min(k + 1, n)
    rows, cols = [], []
    from tqdm import tqdm

    bar = tqdm(total=n, unit="face", desc="neighbours", disable=not progress)
    for start, stop in _batches(n, _QUERY_BATCH):
        dist, idx = searcher.search(x[start:stop], kk)
        own = np.arange(start, stop)[:, None]
        keep = (idx >= 0) & (idx != own) & (dist <= t + _CANDIDATE_SLACK)
        rows.append(np.broadcast_to(own, idx.shape)[keep])
        cols.append(idx[keep])
        bar.update(stop - start)
    bar.close()
    i = np.concatenate(rows).astype(np.int64)
    j = np.concatenate(cols).astype(np.int64)
    # Each undirected edge once (i < j), then the exact distance of each.
    i, j = np.minimum(i, j), np.maximum(i, j)
    pairs = np.unique(i * n + j)
    i, j = pairs // n, pairs % n
    d = np.empty(len(i), np.float64)
    for start, stop in _batches(len(i), _EDGE_BATCH):
        a, b = x[i[start:stop]], x[j[start:stop]]
        d[start:stop] = pair_distances(a, b, "squared_l2", normalize=False)
    keep = d <= t
    i, j, d = i[keep], j[keep], np.maximum(d[keep], 1e-12)
    graph = sp.coo_matrix((np.r_[d, d], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    return graph.tocsr()


def _check(embeddings: np.ndarray) -> np.ndarray:
    """float32 [N, D] unit rows, normalised in chunks (no float64 copy of all N rows)."""
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InvalidInputError(f"embeddings: need [N >= 1, D], got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError("embeddings: contain NaN or infinite values")
    out = np.empty(x.shape, np.float32)
    for start, stop in _batches(len(x), _EDGE_BATCH):
        out[start:stop] = l2_normalize(x[start:stop])
    return out


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Cluster ids renumbered 0..K-1 in order of each cluster's first face: int64 [N]."""
    labels = np.asarray(labels)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def connected_components(graph: sp.spmatrix) -> np.ndarray:
    """Connected components of an undirected graph: int64 [N] ids (``canonical_labels``)."""
    from scipy.sparse.csgraph import connected_components as components

    _, labels = components(sp.csr_matrix(graph), directed=False)
    return canonical_labels(labels)


def chinese_whispers(
    graph: sp.spmatrix, max_iterations: int = 50, seed: int = 0, blocks: int = 256
) -> np.ndarray:
    """Chinese Whispers on a weighted undirected graph (Biemann 2006).

    Every face starts in its own cluster; each iteration visits the faces in a seeded
    random order, and each takes the label carrying the largest total edge weight among
    its neighbours (ties: the smaller label; a face without edges keeps its own). Faces
    are updated in ``blocks`` consecutive groups of the order, each group at once from
    the labels left by the previous groups, so that the cost is a few numpy operations
    per group instead of a Python step per face (with ``blocks >= N``, the classic
    one-face-at-a-time update).

    Args:
        graph: symmetric [N, N] sparse matrix of non-negative edge weights.
        max_iterations: stop after this many passes if labels still change.
        seed: the visiting orders.
        blocks: groups per pass.

    Returns:
        int64 [N] cluster ids (``canonical_labels``).
    """
    g = sp.csr_matrix(graph)
    n = g.shape[0]
    labels = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    groups = max(1, min(n, int(blocks)))
    for _ in range(max_iterations):
        order = rng.permutation(n)
        changed = 0
        for part in np.array_split(order, groups):
            sub = g[part].tocoo()
            if sub.nnz == 0:
                continue
            node, lab = part[sub.row], labels[sub.col]
            # Total weight per (face, label): sort by face, then label, and sum runs.
            key = np.lexsort((lab, node))
            node, lab, w = node[key], lab[key], sub.data[key]
            start = np.flatnonzero(np.r_[True, (node[1:] != node[:-1]) | (lab[1:] != lab[:-1])])
            node, lab, w = node[start], lab[start], np.add.reduceat(w, start)
            # Best label per face: by face, weight descending, label ascending.
            best = np.lexsort((lab, -w, node))
            first = best[np.r_[True, node[best][1:] != node[best][:-1]]]
            new = lab[first]
            changed += int((labels[node[first]] != new).sum())
            labels[node[first]] = new
        if changed == 0:
            break
    return canonical_labels(labels)


def graph_cluster(
    embeddings: np.ndarray,
    threshold: float,
    k: int = DEFAULT_K,
    algorithm: str = DEFAULT_ALGORITHM,
    index: str = "auto",
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Clusters embeddings on their thresholded k-nearest-neighbour graph.

    Args:
        embeddings: float [N, D]; rows are L2-normalised first.
        threshold: squared-L2 distance up to which two faces are linked.
        k: neighbours per face.
        algorithm: "chinese_whispers" (edge weight: cosine similarity ``1 - d / 2``) or
            "connected_components".
        index: as in ``knn_graph``.
        seed: IVF training and Chinese Whispers visiting order.
        progress: a progress bar over the neighbour search.

    Returns:
        int64 [N] cluster ids 0..K-1, numbered in order of each cluster's first face.
    """
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    graph = knn_graph(embeddings, threshold, k=k, index=index, seed=seed, progress=progress)
    if algorithm == "connected_components":
        return connected_components(graph)
    graph.data = np.maximum(1.0 - graph.data / 2.0, 1e-6)
    return chinese_whispers(graph, seed=seed)
