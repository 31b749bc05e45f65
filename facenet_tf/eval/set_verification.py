"""Set-to-set verification (the paper's YouTube Faces protocol): compare two sets of
embeddings (frames of two videos, photos of two albums), then run the k-fold protocol.

Two set distances are offered:
  * "mean_embedding": average-pool each set's embeddings (optionally only its first N),
    then compare the pooled vectors;
  * "mean_pairwise": the mean distance over all cross pairs of the two sets (the paper:
    "average similarity of all pairs of the first one hundred frames").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from facenet_tf.distances import canonical_distance, pair_distances, pairwise_distances
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.pairs import VideoPair
from facenet_tf.eval.verification import VerificationResult, kfold_verification

SET_METHODS = ("mean_embedding", "mean_pairwise")


def _as_set(x: np.ndarray, name: str, first_n: int | None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise InvalidInputError(f"{name}: expected a non-empty [n, D] set, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InvalidInputError(f"{name}: contains NaN or infinite values")
    return a[:first_n] if first_n else a


def pool_set(embeddings: np.ndarray, first_n: int | None = None) -> np.ndarray:
    """Mean of a set's embeddings (first ``first_n`` rows when given): [n, D] -> float64 [D]."""
    return _as_set(embeddings, "set", first_n).mean(axis=0)


def set_distances(
    sets_a: Sequence[np.ndarray],
    sets_b: Sequence[np.ndarray],
    method: str = "mean_embedding",
    distance: str = "squared_l2",
    first_n: int | None = None,
) -> np.ndarray:
    """Distance between corresponding sets.

    Args:
        sets_a: P arrays, each float [n_i, D].
        sets_b: P arrays, each float [m_i, D].
        method: "mean_embedding" or "mean_pairwise" (see the module docstring).
        distance: a name of ``facenet_tf.distances`` ("squared_l2", "cosine",
            "euclidean", or an alias).
        first_n: use only the first N embeddings of each set (None: all).

    Returns:
        float64 [P].
    """
    if method not in SET_METHODS:
        raise InvalidInputError(f"method must be one of {SET_METHODS}, got {method!r}")
    distance = canonical_distance(distance)
    if len(sets_a) != len(sets_b):
        raise InvalidInputError(f"sets: {len(sets_a)} first sets but {len(sets_b)} second sets")
    if first_n is not None and first_n < 1:
        raise InvalidInputError(f"first_n must be >= 1, got {first_n}")
    a = [_as_set(s, f"sets_a[{i}]", first_n) for i, s in enumerate(sets_a)]
    b = [_as_set(s, f"sets_b[{i}]", first_n) for i, s in enumerate(sets_b)]
    if method == "mean_embedding":
        return pair_distances(
            np.stack([s.mean(0) for s in a]), np.stack([s.mean(0) for s in b]), distance
        )
    return np.asarray(
        [pairwise_distances(x, y, distance).mean() for x, y in zip(a, b, strict=True)]
    )


def evaluate_video_pairs(
    set_embeddings: Mapping[str, np.ndarray],
    pairs: Sequence[VideoPair],
    method: str = "mean_embedding",
    distance: str = "squared_l2",
    first_n: int | None = 100,
    far_target: float = 1e-3,
) -> VerificationResult:
    """The YouTube Faces protocol on precomputed per-video embeddings.

    Args:
        set_embeddings: video name (``Name/number`` as in ``splits.txt``) -> float [n, D]
            frame embeddings in frame order.
        pairs: from ``read_youtube_faces_splits``.
        method, distance, first_n: as in ``set_distances`` (the paper used the first 100
            frames).
        far_target: FAR for VAL.

    Returns:
        The k-fold result over the splits' folds.
    """
    missing = sorted({v for p in pairs for v in (p.video1, p.video2)} - set(set_embeddings))
    if missing:
        raise InvalidInputError(f"no embeddings for {len(missing)} video(s), e.g. {missing[:3]}")
    d = set_distances(
        [set_embeddings[p.video1] for p in pairs],
        [set_embeddings[p.video2] for p in pairs],
        method=method,
        distance=distance,
        first_n=first_n,
    )
    return kfold_verification(
        d, [p.issame for p in pairs], [p.fold for p in pairs], far_target=far_target
    )
