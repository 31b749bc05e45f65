"""Distances between embeddings: the one table of distance names, numpy implementations,
and the constants that go with them.

Three distances, under one set of names (``canonical_distance`` maps every accepted
spelling, TF Addons' ``distance_metric`` values included, to one of `DISTANCES`):

* ``squared_l2``: ``|a - b|^2``; on unit vectors it lies in [0, 4] and equals
  ``2 - 2 cos``. The library's verification distance: every threshold (``PAPER_THRESHOLD``,
  the calibrated ones, the export sidecars) is on this scale.
* ``euclidean`` (alias ``l2``): ``|a - b|``, the square root of the above.
* ``cosine`` (alias ``angular``): ``1 - cos(a, b)``, in [0, 2].

By convention ``squared_l2`` and ``cosine`` compare L2-normalised rows and ``euclidean``
compares the rows as given (dlib compares its raw descriptors so, with its 0.6 threshold);
``normalize=`` overrides the convention. The triplet losses' TensorFlow versions
(``facenet_tf.losses.distances``) take the rows as given, as TF Addons does; the models'
embeddings are unit vectors, on which both agree.

Distances that are zero in exact arithmetic come out exactly zero here: identical rows
give 0 (for ``cosine``: identical rows that are not near zero, see `l2_normalize`), and
rounding below zero is clipped. NaN rows (``embed(..., on_no_face="nan")``) give NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from facenet_tf.errors import InvalidInputError

DISTANCES: tuple[str, ...] = ("squared_l2", "euclidean", "cosine")

# Every accepted spelling (lower case; matching ignores case) -> its canonical name. TF
# Addons spells its metrics "squared-L2", "L2" and "angular". Old TF Addons releases used
# "L_2" for the *squared* distance; it is deliberately not accepted to avoid that trap.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "squared_l2": "squared_l2",
        "squared-l2": "squared_l2",
        "sq_l2": "squared_l2",
        "euclidean": "euclidean",
        "l2": "euclidean",
        "cosine": "cosine",
        "angular": "cosine",
    }
)
DISTANCE_NAMES: tuple[str, ...] = tuple(ALIASES)

# The paper's LFW threshold, on squared L2 between unit vectors (used where a model has
# no calibrated threshold).
PAPER_THRESHOLD = 1.242

# Floor on the squared norm when normalising (tf.math.l2_normalize's and TF Addons'): a
# zero row stays zero and has cosine 0 with everything.
L2_NORMALIZE_EPSILON = 1e-12

# Distances whose convention is to compare L2-normalised rows.
_NORMALIZED_BY_DEFAULT = frozenset({"squared_l2", "cosine"})


def canonical_distance(distance: str) -> str:
    """Maps a distance name or alias to one of `DISTANCES`.

    Args:
        distance: "squared_l2", "euclidean", "cosine", or an alias: "l2", "angular",
            "sq_l2", or a TF Addons spelling ("squared-L2", "L2", "angular");
            case-insensitive.

    Returns:
        The canonical name.

    Raises:
        InvalidInputError: the name is unknown (the message names ``distance``).
    """
    if not isinstance(distance, str) or distance.lower() not in ALIASES:
        raise InvalidInputError(
            f"distance must be one of {DISTANCES} or an alias "
            f"({', '.join(n for n in DISTANCE_NAMES if n not in DISTANCES)}, any case); "
            f"got {distance!r}"
        )
    return ALIASES[distance.lower()]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: ``x / sqrt(max(|x|^2, L2_NORMALIZE_EPSILON))``.

    Args:
        x: float [..., D].

    Returns:
        float64 [..., D]; zero rows stay zero (as do rows of norm below 1e-6, which are
        scaled by 1e6 rather than to unit length).
    """
    x = np.asarray(x, dtype=np.float64)
    squared = np.sum(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(np.maximum(squared, L2_NORMALIZE_EPSILON))


def _as_rows(x, name: str) -> np.ndarray:
    try:
        rows = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{name}: expected a float [N, D] array ({e})") from e
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise InvalidInputError(f"{name}: expected a float [N, D] array, got shape {rows.shape}")
    return rows


def _prepare(a, b, distance: str, normalize: bool | None, pairs: bool):
    """Validated float64 rows (normalised as asked), the canonical name, and per row
    whether it has unit length after normalising (only rows below 1e-6 do not)."""
    name = canonical_distance(distance)
    a, b = _as_rows(a, "a"), _as_rows(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(
            f"b: embedding size {b.shape[1]} differs from a's {a.shape[1]} "
            f"(shapes {a.shape}, {b.shape})"
        )
    if pairs and a.shape[0] != b.shape[0]:
        raise InvalidInputError(
            f"b: {b.shape[0]} rows for {a.shape[0]} rows of a; pair_distances compares "
            "row i of a with row i of b (pairwise_distances compares all pairs)"
        )
    unit_a = np.sum(a * a, axis=1) >= L2_NORMALIZE_EPSILON
    unit_b = np.sum(b * b, axis=1) >= L2_NORMALIZE_EPSILON
    if normalize is None:
        normalize = name in _NORMALIZED_BY_DEFAULT
    if normalize or name == "cosine":
        a, b = l2_normalize(a), l2_normalize(b)
    return a, b, name, unit_a, unit_b


def _row_ids(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids, equal for two rows (of ``a`` or ``b``) exactly when the rows are equal."""
    rows = np.concatenate([a, b]) + 0.0  # -0.0 becomes +0.0: bitwise equal == equal
    keys = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.itemsize * rows.shape[1])))
    _, ids = np.unique(keys.reshape(-1), return_inverse=True)
    ids = ids.reshape(-1)
    return ids[: len(a)], ids[len(a) :]


def _exactly_zero(a: np.ndarray, b: np.ndarray, ok_a: np.ndarray, ok_b: np.ndarray):
    """bool [N, M]: equal rows, among the rows flagged ``ok`` in ``ok_a`` [N], ``ok_b`` [M]."""
    ids_a, ids_b = _row_ids(a, b)
    ok_a = ok_a & np.isfinite(a).all(axis=1)
    ok_b = ok_b & np.isfinite(b).all(axis=1)
    return (ids_a[:, None] == ids_b[None, :]) & ok_a[:, None] & ok_b[None, :]


def pairwise_distances(
    a: np.ndarray,
    b: np.ndarray,
    distance: str = "squared_l2",
    normalize: bool | None = None,
) -> np.ndarray:
    """Distances between every row of ``a`` and every row of ``b``.

    Args:
        a: float [N, D].
        b: float [M, D].
        distance: a name accepted by `canonical_distance`.
        normalize: L2-normalise the rows first; None follows the convention (yes for
            "squared_l2" and "cosine", no for "euclidean"). "cosine" normalises anyway.

    Returns:
        float64 [N, M], >= 0; exactly 0 for equal rows.
    """
    a, b, name, unit_a, unit_b = _prepare(a, b, distance, normalize, pairs=False)
    # |a|^2 + |b|^2 - 2 a.b keeps memory at O(N M); rounding can leave equal rows slightly
    # off zero (even below it), so those pairs are set to exactly 0 and the rest clipped.
    if name == "cosine":
        d = 1.0 - a @ b.T
        zero = _exactly_zero(a, b, unit_a, unit_b)
    else:
        d = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
        zero = _exactly_zero(a, b, np.ones_like(unit_a), np.ones_like(unit_b))
    d = np.where(zero, 0.0, np.maximum(d, 0.0))
    return np.sqrt(d) if name == "euclidean" else d


def pair_distances(
    a: np.ndarray,
    b: np.ndarray,
    distance: str = "squared_l2",
    normalize: bool | None = None,
) -> np.ndarray:
    """Distance between row i of ``a`` and row i of ``b``, for every i.

    Args:
        a: float [P, D].
        b: float [P, D].
        distance: a name accepted by `canonical_distance`.
        normalize: as in `pairwise_distances`.

    Returns:
        float64 [P], >= 0; exactly 0 for equal rows.
    """
    a, b, name, unit_a, _ = _prepare(a, b, distance, normalize, pairs=True)
    if name == "cosine":
        d = np.maximum(1.0 - np.sum(a * b, axis=1), 0.0)
        return np.where(np.all(a == b, axis=1) & unit_a, 0.0, d)
    diff = a - b  # differences, not a Gram expansion: equal rows give exactly 0
    d = np.sum(diff * diff, axis=1)
    return np.sqrt(d) if name == "euclidean" else d


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared L2 distance between embeddings as given (0 = identical, 4 = opposite unit
    vectors): `pair_distances` with ``normalize=False``, broadcasting ``a`` against ``b``.
    Public as ``facenet_tf.distance``.

    Args:
        a: float [D] or [N, D].
        b: float [D] or [N, D] (broadcast against ``a``).

    Returns:
        float32 scalar or [N]; NaN where a row holds NaN.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim == 0 or a.shape[-1:] != b.shape[-1:]:
        raise InvalidInputError(f"distance: embedding sizes differ: {a.shape} vs {b.shape}")
    a, b = np.broadcast_arrays(a, b)
    rows = pair_distances(
        a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), "squared_l2", normalize=False
    )
    return rows.astype(np.float32).reshape(a.shape[:-1])[()]
