"""Pair verification: the k-fold LFW protocol, VAL at FAR, ROC, AUC and EER, on pair
distances from ``facenet_tf.distances.pair_distances``.

Protocol (LFW view 2, as in the paper): for each fold the decision threshold is chosen on
the other folds (the threshold with the best accuracy there) and accuracy is measured on
the held-out fold; the mean and spread over folds are reported. A pair is accepted as
"same" when its distance is ``<= threshold``.

VAL at FAR (the paper's headline): for each fold, the threshold is the largest one whose
false-accept rate on the *training* folds does not exceed the target; VAL and FAR are then
measured on the held-out fold.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError


def _check(distances: Any, issame: Any) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    s = np.asarray(issame, dtype=bool).reshape(-1)
    if d.shape != s.shape:
        raise InvalidInputError(f"distances {d.shape} and issame {s.shape} differ in length")
    if not np.isfinite(d).all():
        raise InvalidInputError("distances: contain NaN or infinite values")
    return d, s


def accuracy_at(distances: Any, issame: Any, threshold: float) -> float:
    """Fraction of pairs classified correctly by ``distance <= threshold`` -> same."""
    d, s = _check(distances, issame)
    return float(np.mean((d <= threshold) == s)) if d.size else float("nan")


def val_far_at(distances: Any, issame: Any, threshold: float) -> tuple[float, float]:
    """(VAL, FAR) at ``threshold``: accepted fraction of same pairs and of different pairs."""
    d, s = _check(distances, issame)
    accept = d <= threshold
    val = float(np.mean(accept[s])) if s.any() else float("nan")
    far = float(np.mean(accept[~s])) if (~s).any() else float("nan")
    return val, far


def best_accuracy_threshold(distances: Any, issame: Any) -> tuple[float, float]:
    """The threshold with the highest accuracy on these pairs, and that accuracy.

    Every distinct decision is tried exactly (no grid): the candidates are midpoints between
    consecutive distinct sorted distances, plus "reject all" and "accept all". Ties in
    accuracy go to the smallest threshold.

    Returns:
        (threshold, accuracy).
    """
    d, s = _check(distances, issame)
    if d.size == 0:
        raise InvalidInputError("best_accuracy_threshold: no pairs")
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], s[order]
    # accepting the first i sorted pairs: correct = same among them + different after them.
    same_cum = np.concatenate([[0], np.cumsum(ss)])
    diff_cum = np.concatenate([[0], np.cumsum(~ss)])
    correct = same_cum + (diff_cum[-1] - diff_cum)
    # a cut is only possible where the next distance is strictly larger (ties move together).
    valid = np.ones(d.size + 1, dtype=bool)
    valid[1:-1] = ds[1:] > ds[:-1]
    i = int(np.flatnonzero(valid)[np.argmax(correct[valid])])
    if i == 0:
        threshold = float(np.nextafter(ds[0], -np.inf))
    elif i == d.size:
        threshold = float(ds[-1])
    else:
        threshold = float((ds[i - 1] + ds[i]) / 2.0)
        if not ds[i - 1] <= threshold < ds[i]:  # adjacent floats: the midpoint rounds up
            threshold = float(ds[i - 1])
    return threshold, float(correct[i] / d.size)


def far_threshold(distances: Any, issame: Any, far_target: float) -> float:
    """The largest threshold whose false-accept rate on these pairs is <= ``far_target``.

    With m different pairs sorted by distance n_1 <= ... <= n_m and k = floor(far * m),
    this accepts exactly the different pairs closer than n_(k+1) (at most k of them).
    """
    d, s = _check(distances, issame)
    if not 0.0 <= far_target <= 1.0:
        raise InvalidInputError(f"far_target must lie in [0, 1], got {far_target}")
    neg = np.sort(d[~s])
    if neg.size == 0:
        raise InvalidInputError("far_threshold: no different pairs")
    k = int(math.floor(far_target * neg.size + 1e-9))
    if k >= neg.size:
        return float(max(d.max(), neg[-1]))
    return float(np.nextafter(neg[k], -np.inf))


@dataclasses.dataclass(frozen=True)
class RocCurve:
    """Pooled ROC over all pairs: ``fpr``, ``tpr`` float64 [K], ``thresholds`` float64 [K]
    (distances; a pair is accepted when distance <= threshold)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


def roc_curve(distances: Any, issame: Any) -> RocCurve:
    """ROC of ``distance <= t`` over every distinct t, from (0, 0) to (1, 1)."""
    d, s = _check(distances, issame)
    if s.all() or (~s).all():
        raise InvalidInputError("roc_curve: needs both same and different pairs")
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], s[order]
    last = np.concatenate([ds[1:] > ds[:-1], [True]])  # last index of each tie group
    tp = np.cumsum(ss)[last]
    fp = np.cumsum(~ss)[last]
    fpr = np.concatenate([[0.0], fp / (~s).sum()])
    tpr = np.concatenate([[0.0], tp / s.sum()])
    thresholds = np.concatenate([[np.nextafter(ds[0], -np.inf)], ds[last]])
    return RocCurve(fpr, tpr, thresholds)


def auc(curve: RocCurve) -> float:
    """Area under the ROC curve (trapezoids; ties between classes count one half)."""
    return float(np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2.0))


def eer(curve: RocCurve) -> float:
    """Equal error rate: where FAR equals the false-reject rate 1 - TPR, linearly interpolated."""
    gap = (1.0 - curve.tpr) - curve.fpr  # starts at 1, ends at -1
    i = int(np.argmax(gap <= 0.0))
    if gap[i] == 0.0 or i == 0:
        return float(curve.fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(curve.fpr[i - 1] + t * (curve.fpr[i] - curve.fpr[i - 1]))


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    """Per-fold and summary figures of the k-fold protocol (accuracies as fractions).

    ``accuracy_std`` is the population std over folds (np.std, the convention of the
    published LFW scripts); ``accuracy_sem`` the standard error std(ddof=1) / sqrt(k).
    """

    num_pairs: int
    num_folds: int
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    accuracy_mean: float
    accuracy_std: float
    accuracy_sem: float
    far_target: float
    fold_val: tuple[float, ...]
    fold_far: tuple[float, ...]
    fold_val_thresholds: tuple[float, ...]
    val_mean: float
    val_std: float
    far_mean: float
    auc: float
    eer: float
    roc: RocCurve = dataclasses.field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ROC arrays are left out)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "roc"}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def make_folds(num_items: int, num_folds: int = 10) -> np.ndarray:
    """Contiguous fold indices int64 [num_items] (as LFW's file order), sizes differing by <= 1."""
    if num_folds < 2 or num_items < num_folds:
        raise InvalidInputError(f"need >= 2 folds and >= 1 item per fold, got {num_items} items")
    return (np.arange(num_items) * num_folds) // num_items


def kfold_verification(
    distances: Any, issame: Any, folds: Any, far_target: float = 1e-3
) -> VerificationResult:
    """The k-fold protocol: thresholds from the other folds, measured on the held-out one.

    Args:
        distances: float [P] pair distances (smaller = more similar).
        issame: bool [P] ground truth.
        folds: int [P] fold index of each pair (LFW: the file's fold).
        far_target: false-accept rate for VAL (the paper: 1e-3).

    Returns:
        VerificationResult; AUC, EER and the ROC are pooled over all pairs.
    """
    d, s = _check(distances, issame)
    f = np.asarray(folds).reshape(-1)
    if f.shape != d.shape:
        raise InvalidInputError(f"folds {f.shape} and distances {d.shape} differ in length")
    fold_ids = np.unique(f)
    if fold_ids.size < 2:
        raise InvalidInputError("kfold_verification: needs at least 2 folds")
    accs, thrs, vals, fars, vthrs = [], [], [], [], []
    for k in fold_ids:
        test = f == k
        train = ~test
        # Only training-fold values reach the threshold choices below.
        thr, _ = best_accuracy_threshold(d[train], s[train])
        accs.append(accuracy_at(d[test], s[test], thr))
        thrs.append(thr)
        vthr = far_threshold(d[train], s[train], far_target)
        val, far = val_far_at(d[test], s[test], vthr)
        vals.append(val)
        fars.append(far)
        vthrs.append(vthr)
    acc = np.asarray(accs)
    curve = roc_curve(d, s)
    return VerificationResult(
        num_pairs=int(d.size),
        num_folds=int(fold_ids.size),
        fold_accuracies=tuple(float(a) for a in accs),
        fold_thresholds=tuple(thrs),
        accuracy_mean=float(acc.mean()),
        accuracy_std=float(acc.std()),
        accuracy_sem=float(acc.std(ddof=1) / math.sqrt(acc.size)),
        far_target=float(far_target),
        fold_val=tuple(vals),
        fold_far=tuple(fars),
        fold_val_thresholds=tuple(vthrs),
        val_mean=float(np.nanmean(vals)),
        val_std=float(np.nanstd(vals)),
        far_mean=float(np.nanmean(fars)),
        auc=auc(curve),
        eer=eer(curve),
        roc=curve,
    )


def train_test_verification(
    train_distances: Any, train_issame: Any, test_distances: Any, test_issame: Any
) -> dict[str, float]:
    """View-1 style: pick the best-accuracy threshold on one set (DevTrain), apply it to
    another (DevTest). Returns the threshold and both accuracies."""
    thr, train_acc = best_accuracy_threshold(train_distances, train_issame)
    return {
        "threshold": thr,
        "train_accuracy": train_acc,
        "test_accuracy": accuracy_at(test_distances, test_issame, thr),
    }
