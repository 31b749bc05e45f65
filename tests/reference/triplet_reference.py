"""Brute-force numpy references of the triplet losses (explicit loops, float64).

Written from the documented semantics of TF Addons' ``TripletSemiHardLoss`` and
``TripletHardLoss`` and of the paper definitions, one triplet at a time, so that they share
nothing with the vectorised, sort-based implementation under test. The ``tfa_*`` variants
reproduce TF Addons exactly, including its behaviour on batches where ours deliberately
differs (no anchor-positive pair: NaN; anchors without a positive in batch-hard).
"""

from __future__ import annotations

import math

import numpy as np

from tests.reference import distances_reference


def pairwise_distances(embeddings: np.ndarray, distance: str) -> np.ndarray:
    """d(i, j) from the vectors directly (``distances_reference``, rows as given).

    Args:
        embeddings: [B, D].
        distance: a name of ``facenet_tf.distances`` ("squared_l2", "l2", "angular", ...).

    Returns:
        float64 [B, B] with a zero diagonal.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    b = len(x)
    out = np.zeros((b, b))
    for i in range(b):
        for j in range(b):
            if i != j:
                out[i, j] = distances_reference.distance(x[i], x[j], distance)
    return out


def semihard_terms(labels, embeddings, margin: float, distance: str) -> list[dict]:
    """One record per anchor-positive pair (a != p, same label), in TF Addons' semantics.

    The negative is the nearest one strictly farther than the positive; else the farthest
    negative; else (the anchor has no negative) the minimum of the anchor's whole
    distance row, diagonal included.
    """
    d = pairwise_distances(embeddings, distance)
    labels = np.asarray(labels).reshape(-1)
    b = len(labels)
    terms = []
    for a in range(b):
        negatives = [d[a, n] for n in range(b) if labels[n] != labels[a]]
        for p in range(b):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [dn for dn in negatives if dn > d[a, p]]
            if farther:
                d_an, fell_back = min(farther), False
            elif negatives:
                d_an, fell_back = max(negatives), True
            else:
                d_an, fell_back = min(d[a, k] for k in range(b)), True
            loss = max(d[a, p] - d_an + margin, 0.0)
            terms.append({"d_ap": d[a, p], "d_an": d_an, "fell_back": fell_back, "loss": loss})
    return terms


def semihard_loss(labels, embeddings, margin: float = 0.2, distance="squared_l2") -> float:
    """Mean of the semi-hard triplet losses over anchor-positive pairs; 0 if none."""
    terms = semihard_terms(labels, embeddings, margin, distance)
    return float(np.mean([t["loss"] for t in terms])) if terms else 0.0


def tfa_semihard_loss(labels, embeddings, margin: float = 1.0, distance="l2") -> float:
    """TF Addons' ``triplet_semihard_loss``: as `semihard_loss`, NaN without any pair."""
    terms = semihard_terms(labels, embeddings, margin, distance)
    return float(np.mean([t["loss"] for t in terms])) if terms else float("nan")


def semihard_stats(labels, embeddings, margin: float = 0.2, distance="squared_l2") -> dict:
    """Means over anchor-positive pairs of activity, d_ap, mined d_an and fallback."""
    terms = semihard_terms(labels, embeddings, margin, distance)
    if not terms:
        return {
            "fraction_active_triplets": 0.0,
            "mean_d_ap": 0.0,
            "mean_d_an": 0.0,
            "fraction_fallback_negatives": 0.0,
            "num_positive_pairs": 0.0,
        }
    return {
        "fraction_active_triplets": float(np.mean([t["loss"] > 0 for t in terms])),
        "mean_d_ap": float(np.mean([t["d_ap"] for t in terms])),
        "mean_d_an": float(np.mean([t["d_an"] for t in terms])),
        "fraction_fallback_negatives": float(np.mean([t["fell_back"] for t in terms])),
        "num_positive_pairs": float(len(terms)),
    }


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def batch_hard_terms(labels, embeddings, margin: float, soft: bool, distance: str) -> list:
    """One record per anchor, TF Addons' fallbacks included.

    Hardest positive: the largest d(a, p), p != a same label; without any, the minimum of
    the row (diagonal included). Hardest negative: the smallest d(a, n); without any, the
    maximum of the row.
    """
    d = pairwise_distances(embeddings, distance)
    labels = np.asarray(labels).reshape(-1)
    b = len(labels)
    terms = []
    for a in range(b):
        positives = [d[a, p] for p in range(b) if p != a and labels[p] == labels[a]]
        negatives = [d[a, n] for n in range(b) if labels[n] != labels[a]]
        d_ap = max(positives) if positives else min(d[a])
        d_an = min(negatives) if negatives else max(d[a])
        loss = _softplus(d_ap - d_an) if soft else max(d_ap - d_an + margin, 0.0)
        terms.append({"has_positive": bool(positives), "d_ap": d_ap, "d_an": d_an, "loss": loss})
    return terms


def batch_hard_loss(
    labels, embeddings, margin: float = 0.2, soft: bool = False, distance="squared_l2"
) -> float:
    """Mean over anchors having a positive; 0 if no anchor has one."""
    terms = batch_hard_terms(labels, embeddings, margin, soft, distance)
    kept = [t["loss"] for t in terms if t["has_positive"]]
    return float(np.mean(kept)) if kept else 0.0


def tfa_hard_loss(
    labels, embeddings, margin: float = 1.0, soft: bool = False, distance="l2"
) -> float:
    """TF Addons' ``triplet_hard_loss``: mean over *all* anchors, with its fallbacks."""
    terms = batch_hard_terms(labels, embeddings, margin, soft, distance)
    return float(np.mean([t["loss"] for t in terms]))


def batch_hard_stats(
    labels, embeddings, margin: float = 0.2, soft: bool = False, distance="squared_l2"
) -> dict:
    """Means over anchors having a positive of activity, hardest d_ap and d_an."""
    kept = [
        t for t in batch_hard_terms(labels, embeddings, margin, soft, distance) if t["has_positive"]
    ]
    if not kept:
        return {k: 0.0 for k in ("fraction_active_triplets", "mean_d_ap", "mean_d_an")}
    return {
        "fraction_active_triplets": float(np.mean([t["loss"] > 0 for t in kept])),
        "mean_d_ap": float(np.mean([t["d_ap"] for t in kept])),
        "mean_d_an": float(np.mean([t["d_an"] for t in kept])),
        "num_anchors_with_positive": float(len(kept)),
    }


def batch_all(labels, embeddings, margin: float = 0.2, distance="squared_l2") -> dict:
    """Triple loop over (a, p, n): loss = sum of hinges / #active, fraction = #active / #valid."""
    d = pairwise_distances(embeddings, distance)
    labels = np.asarray(labels).reshape(-1)
    b = len(labels)
    total, active, valid = 0.0, 0, 0
    ap, an = [], []
    for a in range(b):
        for p in range(b):
            if p == a or labels[p] != labels[a]:
                continue
            ap.append(d[a, p])
            for n in range(b):
                if labels[n] == labels[a]:
                    continue
                valid += 1
                hinge = d[a, p] - d[a, n] + margin
                if hinge > 0:
                    total += hinge
                    active += 1
        an.extend(d[a, n] for n in range(b) if labels[n] != labels[a])
    return {
        "loss": total / active if active else 0.0,
        "fraction_active_triplets": active / valid if valid else 0.0,
        "num_valid_triplets": float(valid),
        "num_active_triplets": float(active),
        "mean_d_ap": float(np.mean(ap)) if ap else 0.0,
        "mean_d_an": float(np.mean(an)) if an else 0.0,
    }
