"""Identification: closed-set rank-k (CMC) and open-set DIR at FAR with a gallery/probe split.

Split (LFW style): every identity with >= 2 images gives one gallery image (its first, or a
seeded random one) and the rest are mated probes; identities with a single image are
distractors (non-mated probes, absent from the gallery).

Closed set: the rank of a mated probe is 1 + the number of *other* gallery identities at a
distance <= its true identity's (ties count against the probe).
Open set: a threshold t on the best gallery distance is chosen so that at most a fraction
FAR of distractors are accepted (largest such t); DIR(t) is the fraction of mated probes
whose rank is 1 *and* whose distance to the true identity is <= t.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from facenet_tf.distances import pairwise_distances
from facenet_tf.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class GalleryProbeSplit:
    """Indices into the labelled set: ``gallery``, ``probes`` (mated), ``distractors``."""

    gallery: np.ndarray
    probes: np.ndarray
    distractors: np.ndarray


def split_gallery_probe(labels: Sequence[Hashable], seed: int | None = None) -> GalleryProbeSplit:
    """One gallery image per identity with >= 2 images; the rest probes; singletons distractors.

    Args:
        labels: identity of each image, N items.
        seed: None takes each identity's first image as its gallery image; an int picks it
            at random with that seed.

    Returns:
        int64 index arrays, each in ascending order.
    """
    labels = list(labels)
    by_id: dict[Hashable, list[int]] = {}
    for i, lab in enumerate(labels):
        by_id.setdefault(lab, []).append(i)
    rng = np.random.default_rng(seed) if seed is not None else None
    gallery, probes, distractors = [], [], []
    for idx in by_id.values():
        if len(idx) == 1:
            distractors.append(idx[0])
            continue
        g = idx[int(rng.integers(len(idx)))] if rng is not None else idx[0]
        gallery.append(g)
        probes.extend(i for i in idx if i != g)
    if not gallery:
        raise InvalidInputError("labels: no identity has 2 or more images; no gallery")
    return GalleryProbeSplit(
        *(np.asarray(sorted(x), dtype=np.int64) for x in (gallery, probes, distractors))
    )


def probe_ranks(
    gallery: np.ndarray,
    gallery_labels: Sequence[Hashable],
    probes: np.ndarray,
    probe_labels: Sequence[Hashable],
    distance: str = "squared_l2",
) -> np.ndarray:
    """Rank (1-based) of each probe's true identity among the gallery identities.

    Args:
        gallery: float [G, D], one or more rows per identity (an identity's distance is its
            closest row).
        gallery_labels: G identities.
        probes: float [P, D] mated probes.
        probe_labels: P identities, each present in the gallery.
        distance: a name of ``facenet_tf.distances`` (squared L2 by default).

    Returns:
        int64 [P].
    """
    ids = list(dict.fromkeys(gallery_labels))
    col = {lab: k for k, lab in enumerate(ids)}
    missing = [lab for lab in probe_labels if lab not in col]
    if missing:
        raise InvalidInputError(
            f"probe_labels: {len(missing)} not in the gallery, e.g. {missing[:3]}"
        )
    per_id = _per_identity(pairwise_distances(probes, gallery, distance), gallery_labels, col)
    true = per_id[np.arange(len(probe_labels)), [col[lab] for lab in probe_labels]]
    return (per_id <= true[:, None]).sum(axis=1).astype(np.int64)  # counts the true id itself


def _per_identity(d: np.ndarray, gallery_labels: Sequence[Hashable], col: dict) -> np.ndarray:
    out = np.full((d.shape[0], len(col)), np.inf)
    for j, lab in enumerate(gallery_labels):
        k = col[lab]
        out[:, k] = np.minimum(out[:, k], d[:, j])
    return out


@dataclasses.dataclass(frozen=True)
class IdentificationResult:
    """Closed- and open-set figures (rates as fractions)."""

    num_gallery: int
    num_probes: int
    num_distractors: int
    rank1: float
    rank5: float
    cmc: tuple[float, ...]  # rank-1..rank-len(cmc) identification rates
    dir_at_far: dict[str, dict[str, float]]  # "0.001" -> {"dir", "far", "threshold"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def evaluate_identification(
    embeddings: np.ndarray,
    labels: Sequence[Hashable],
    distance: str = "squared_l2",
    far_targets: Sequence[float] = (1e-3, 1e-2, 1e-1),
    max_rank: int = 10,
    seed: int | None = None,
) -> IdentificationResult:
    """Gallery/probe split of a labelled set, then closed-set CMC and open-set DIR at FAR.

    Args:
        embeddings: float [N, D].
        labels: N identities.
        distance: a name of ``facenet_tf.distances`` (squared L2 by default).
        far_targets: open-set false-alarm rates (fraction of distractors accepted).
        max_rank: length of the reported CMC curve.
        seed: gallery choice (see ``split_gallery_probe``).

    Returns:
        IdentificationResult; DIR entries are NaN when there are no distractors.
    """
    if max_rank < 5:
        raise InvalidInputError(f"max_rank must be >= 5 (rank-5 is reported), got {max_rank}")
    x = np.asarray(embeddings, dtype=np.float64)
    labels = list(labels)
    if x.ndim != 2 or len(labels) != x.shape[0]:
        raise InvalidInputError(f"embeddings {x.shape} and {len(labels)} labels do not match")
    split = split_gallery_probe(labels, seed)
    if split.probes.size == 0:
        raise InvalidInputError("labels: no probes (every identity has one image)")
    g_lab = [labels[i] for i in split.gallery]
    p_lab = [labels[i] for i in split.probes]
    ranks = probe_ranks(x[split.gallery], g_lab, x[split.probes], p_lab, distance)
    cmc = tuple(float(np.mean(ranks <= r)) for r in range(1, max_rank + 1))
    col = {lab: k for k, lab in enumerate(g_lab)}
    probe_d = _per_identity(
        pairwise_distances(x[split.probes], x[split.gallery], distance), g_lab, col
    )
    true_d = probe_d[np.arange(len(p_lab)), [col[lab] for lab in p_lab]]
    dir_at = {}
    if split.distractors.size:
        best = np.sort(pairwise_distances(x[split.distractors], x[split.gallery], distance).min(1))
        for far in far_targets:
            k = int(math.floor(far * best.size + 1e-9))
            t = float(best[-1]) if k >= best.size else float(np.nextafter(best[k], -np.inf))
            dir_at[repr(float(far))] = {
                "dir": float(np.mean((ranks == 1) & (true_d <= t))),
                "far": float(np.mean(best <= t)),
                "threshold": t,
            }
    else:
        dir_at = {
            repr(float(f)): {"dir": math.nan, "far": math.nan, "threshold": math.nan}
            for f in far_targets
        }
    return IdentificationResult(
        num_gallery=int(split.gallery.size),
        num_probes=int(split.probes.size),
        num_distractors=int(split.distractors.size),
        rank1=cmc[0],
        rank5=cmc[min(4, len(cmc) - 1)],
        cmc=cmc,
        dir_at_far=dir_at,
    )
