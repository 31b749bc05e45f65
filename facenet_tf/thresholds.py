"""Calibrated decision thresholds of the pretrained models: the one place they are read.

``facenet_tf/pretrained/thresholds.json`` holds, per model name:

- ``threshold``: the best-accuracy squared-L2 threshold on LFW view-1 DevTrain pairs
  (``default_threshold`` in ``facenet_tf.tasks`` uses it), with the pipeline it was
  measured through;
- ``far``: open-set operating points, one per calibrated false-accept rate: the largest
  squared-L2 threshold whose false-accept rate over every cross-identity pair of an
  LFW-disjoint set is at most the target, and the true-accept rate there.

A pair is "same" when its squared L2 distance is ``<= threshold`` (as in
``facenet_tf.tasks.verify`` and ``facenet_tf.eval.verification``). Only the listed FARs
are served: there is no interpolation between operating points, so ``far=2e-4`` is an
error rather than a threshold nobody measured.

Imports only the standard library (no NumPy, no TensorFlow).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from functools import cache
from importlib import resources
from typing import Any

from facenet_tf.errors import InvalidInputError

# Two FARs closer than this (relative) are the same operating point: 1e-3 and 0.001 are.
_FAR_REL_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """One calibrated open-set operating point of a model.

    Attributes:
        far: the target false-accept rate (e.g. 1e-3).
        threshold: the largest squared-L2 threshold whose FAR on the calibration
            impostor pairs is <= ``far``; "same" means ``distance <= threshold``.
        achieved_far: ``false_accepts / impostor_pairs`` at ``threshold`` (<= ``far``).
        tar: true-accept rate at ``threshold``: ``true_accepts / genuine_pairs``.
        impostor_pairs: cross-identity pairs measured.
        false_accepts: impostor pairs with distance <= ``threshold``.
        genuine_pairs: same-identity pairs measured.
        true_accepts: genuine pairs with distance <= ``threshold``.
    """

    far: float
    threshold: float
    achieved_far: float
    tar: float
    impostor_pairs: int
    false_accepts: int
    genuine_pairs: int
    true_accepts: int


@cache
def _table() -> dict[str, Any]:
    text = resources.files("facenet_tf.pretrained").joinpath("thresholds.json").read_text()
    return json.loads(text)


def devtrain_threshold(model_name: str) -> float | None:
    """The best-accuracy LFW view-1 DevTrain threshold of ``model_name``, or None when the
    model has not been calibrated."""
    entry = _table().get(model_name)
    return None if entry is None or "threshold" not in entry else float(entry["threshold"])


def default_threshold_of(model_name: str) -> float:
    """The threshold ``verify`` uses for ``model_name`` without ``far=`` or ``threshold=``:
    its DevTrain threshold, else the paper's 1.242 (``distances.PAPER_THRESHOLD``)."""
    from facenet_tf.distances import PAPER_THRESHOLD

    calibrated = devtrain_threshold(model_name)
    return PAPER_THRESHOLD if calibrated is None else calibrated


def cross_model_threshold(first: str, second: str) -> float | None:
    """The DevTrain threshold for pairs of one vector of ``first`` and one of ``second``
    (harmonic models; either order), or None when the pair has not been calibrated."""
    for a, b in ((first, second), (second, first)):
        entry = _table().get(a, {}).get("cross_model", {}).get(b)
        if entry is not None:
            return float(entry["threshold"])
    return None


def far_table(model_name: str) -> dict[str, Any] | None:
    """The raw ``far`` record of ``model_name`` (source, command, data, counts, points),
    or None when the model has no FAR calibration."""
    entry = _table().get(model_name)
    return None if entry is None else entry.get("far")


def operating_points(model_name: str) -> list[OperatingPoint]:
    """The calibrated operating points of ``model_name``, from the largest FAR down.

    Raises:
        InvalidInputError: ``model_name`` has no FAR calibration (the message lists the
            models that have one).
    """
    table = far_table(model_name)
    if not table or not table.get("points"):
        calibrated = sorted(k for k, v in _table().items() if v.get("far", {}).get("points"))
        raise InvalidInputError(
            f"model {model_name!r} has no calibrated false-accept-rate thresholds; "
            f"calibrated models: {calibrated or 'none'} (or pass threshold=)"
        )
    n_imp, n_gen = int(table["impostor_pairs"]), int(table["genuine_pairs"])
    points = [
        OperatingPoint(
            far=float(p["far"]),
            threshold=float(p["threshold"]),
            achieved_far=float(p["false_accepts"]) / n_imp,
            tar=float(p["true_accepts"]) / n_gen,
            impostor_pairs=n_imp,
            false_accepts=int(p["false_accepts"]),
            genuine_pairs=n_gen,
            true_accepts=int(p["true_accepts"]),
        )
        for p in table["points"]
    ]
    return sorted(points, key=lambda p: -p.far)


def checked_threshold(threshold: Any, name: str = "threshold") -> float:
    """``threshold`` as a float, when it is a squared-L2 threshold (a number >= 0; inf
    accepts every pair).

    Raises:
        InvalidInputError: NaN, negative or not a number (``name`` and the value named):
            no pair would ever be "same", a plausible wrong answer rather than an error.
    """
    number = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
    value = float(threshold) if number else math.nan
    if not value >= 0:
        raise InvalidInputError(f"{name} must be a squared-L2 distance >= 0, got {threshold!r}")
    return value


def far_threshold(model_name: str, far: float) -> float:
    """The squared-L2 threshold of ``model_name`` calibrated at false-accept rate ``far``.

    Args:
        model_name: a registered model name (e.g. "dlib_resnet_v1").
        far: one of the calibrated FARs (``[p.far for p in operating_points(model_name)]``),
            e.g. 1e-3. Other values are refused, not interpolated.

    Raises:
        InvalidInputError: ``far`` is not a number in (0, 1), the model has no FAR
            calibration, or ``far`` is not one of its calibrated FARs (the message lists
            them).
    """
    if isinstance(far, bool) or not isinstance(far, (int, float)):
        raise InvalidInputError(f"far must be a number in (0, 1), got {far!r}")
    far = float(far)
    if not (math.isfinite(far) and 0.0 < far < 1.0):
        raise InvalidInputError(f"far must be a number in (0, 1), got {far!r}")
    points = operating_points(model_name)
    for p in points:
        if math.isclose(far, p.far, rel_tol=_FAR_REL_TOL, abs_tol=0.0):
            return p.threshold
    listed = ", ".join(f"{p.far:g}" for p in points)
    raise InvalidInputError(
        f"far={far:g} is not calibrated for model {model_name!r}; calibrated FARs: {listed} "
        "(thresholds are not interpolated between them)"
    )
