"""Open-set operating points: thresholds at calibrated false-accept rates on CelebA.

The library behind ``python benchmarks/lfw_default_model.py --far`` (no flags here):

1. ``celeba_images``: every image of ``../shared/data/celeba`` (the LFW-disjoint
   identities: aligned_178x218, aligned_89x109, wild) with its identity.
2. ``embed_cached``: ``facenet_tf.embed`` with its defaults (detection, default face
   choice, flip) on them, ``on_no_face="nan"`` so photos without a face become NaN rows
   that are counted and dropped; chunks cached as ``.npz`` (vectors and paths).
3. ``scan_pairs``: every pair of kept images, squared L2 from
   ``facenet_tf.distances.pairwise_distances`` in row blocks (never the whole matrix):
   all same-identity ("genuine") distances, and the exact ``k`` smallest cross-identity
   ("impostor") distances by per-block partial selection, with the image indices of
   the closest ones.
4. ``operating_point``: at a target FAR, the largest threshold whose impostor FAR is
   <= the target (the rule of ``facenet_tf.eval.verification.far_threshold``, on the
   exact order statistic, not a histogram bin), the false and true accepts there.

"Same" is ``distance <= threshold``, as in ``facenet_tf.tasks.verify``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from facenet_tf.distances import pairwise_distances
from facenet_tf.errors import ImageReadError
from facenet_tf.pretrained.cache import write_npz_atomic

SUBSETS = ("aligned_178x218", "aligned_89x109", "wild")


def celeba_images(celeba_dir: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and int64 identity labels [N] from ``identities.txt`` (sorted by path)."""
    rows = sorted(line.split() for line in (celeba_dir / "identities.txt").read_text().splitlines())
    rows = [r for r in rows if r and r[0].split("/")[0] in SUBSETS]
    return [celeba_dir / p for p, _ in rows], np.array([int(i) for _, i in rows], np.int64)


def photo_ids(paths: list[Path]) -> np.ndarray:
    """int64 [N]: CelebA's image number (the file name), shared by the aligned and wild
    copies of one photo in different subsets."""
    return np.array([int(Path(p).stem) for p in paths], np.int64)


def embed_cached(
    paths: list[Path], model: str, cache_dir: Path, chunk: int = 500
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``facenet_tf.embed(paths, model=model, on_no_face="nan")``, chunk by chunk, cached
    by pipeline settings, weights and paths.

    Returns:
        vectors float32 [N, D] (NaN rows: no face found, or unreadable), and
        (path, reason) for every unreadable file (photos without a face are the NaN rows
        that are not listed here).
    """
    import facenet_tf
    from facenet_tf.face_pipeline import FacePipeline, describe
    from facenet_tf.pretrained.cache import weights_sha256

    # The weights are part of the key: new weights under the same name are new vectors.
    weights = weights_sha256(facenet_tf.get_embedder(model).model)
    settings = json.dumps(describe(FacePipeline(model)), sort_keys=True) + weights
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts, failures = [], []
    for start in range(0, len(paths), chunk):
        names = [str(p) for p in paths[start : start + chunk]]
        key = hashlib.sha256((settings + "\n".join(names)).encode()).hexdigest()[:16]
        file = cache_dir / f"{model}_{start:06d}_{key}.npz"
        if not file.exists():
            dim = facenet_tf.get_embedder(model).embedding_dim
            vectors, failed = _embed_chunk(facenet_tf.embed, names, model, dim)
            arrays = {"vectors": vectors, "paths": np.array(names), "failed": np.array(failed)}
            write_npz_atomic(file, arrays)
            print(f"embedded {start + len(names)}/{len(paths)} -> {file.name}", flush=True)
        with np.load(file) as z:
            if list(z["paths"]) != names:
                raise RuntimeError(f"{file}: cached paths differ; delete it")
            parts.append(z["vectors"])
            failures += [tuple(f) for f in z["failed"].reshape(-1, 2).tolist()]
    return np.concatenate(parts), failures


def _embed_chunk(
    embed, names: list[str], model: str, dim: int
) -> tuple[np.ndarray, list[list[str]]]:
    """One chunk; an unreadable file makes the chunk go one image at a time, recorded."""
    kwargs = {"model": model, "on_no_face": "nan", "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photos without a face are counted as NaN rows
        try:
            return embed(names, **kwargs), []
        except ImageReadError:
            rows, failed = [], []
            for name in names:
                try:
                    rows.append(embed([name], **kwargs))
                except ImageReadError as e:
                    rows.append(np.full((1, dim), np.nan, np.float32))
                    failed.append([name, str(e)])
            return np.concatenate(rows).astype(np.float32), failed


class SmallestK:
    """The exact ``k`` smallest of a stream of values (with an int payload per value),
    by per-block partial selection: memory O(k + block), never the whole stream."""

    def __init__(self, k: int):
        self.k = int(k)
        self.values = np.empty(0, np.float64)
        self.payload = np.empty(0, np.int64)
        self.seen = 0

    def bound(self) -> float:
        """A value at or above which nothing new can enter (inf until k values are held)."""
        return float(self.values.max()) if len(self.values) >= self.k else math.inf

    def add(self, values: np.ndarray, payload: np.ndarray | None = None) -> None:
        values = np.asarray(values, np.float64).reshape(-1)
        self.seen += values.size
        payload = np.zeros(values.size, np.int64) if payload is None else payload.reshape(-1)
        keep = values < self.bound()
        v = np.concatenate([self.values, values[keep]])
        p = np.concatenate([self.payload, payload[keep]])
        if v.size > self.k:
            idx = np.argpartition(v, self.k - 1)[: self.k]
            v, p = v[idx], p[idx]
        self.values, self.payload = v, p

    def sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """(values ascending, their payloads); ties in value ordered by payload."""
        order = np.lexsort((self.payload, self.values))
        return self.values[order], self.payload[order]


@dataclasses.dataclass(frozen=True)
class PairScan:
    """``impostor_smallest``: float64 [k] ascending; ``impostor_pairs``: how many impostor
    pairs there are; ``closest``: int64 [c, 2] image indices of the c closest impostor
    pairs, with ``closest_distances`` float64 [c]; ``genuine``: float64 [G] distances of
    every same-identity pair (of two different photos), ``genuine_index`` int64 [G, 2]
    their images; ``impostor_at``: impostor pairs with distance <= each of the scan's
    ``count_at`` thresholds."""

    impostor_smallest: np.ndarray
    impostor_pairs: int
    closest: np.ndarray
    closest_distances: np.ndarray
    genuine: np.ndarray
    genuine_index: np.ndarray
    same_photo_pairs: int
    impostor_at: tuple[int, ...] = ()


def count_impostor_pairs(labels: np.ndarray) -> int:
    """Cross-identity pairs among ``labels`` [N]: C(N, 2) minus the same-identity ones."""
    _, counts = np.unique(labels, return_counts=True)
    n = len(labels)
    return n * (n - 1) // 2 - int(np.sum(counts * (counts - 1) // 2))


def _blocks(vectors: np.ndarray, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """(row start, squared L2 [b, N - start] to the rows at and after ``start``)."""
    for s in range(0, len(vectors), block):
        yield s, pairwise_distances(vectors[s : s + block], vectors[s:], "squared_l2")


def scan_pairs(
    vectors: np.ndarray,
    labels: np.ndarray,
    photos: np.ndarray,
    k: int,
    closest: int,
    block: int = 256,
    count_at: tuple[float, ...] = (),
) -> PairScan:
    """Every unordered pair i < j of ``vectors`` [N, D] (finite unit rows), in row blocks.

    Args:
        labels: int64 [N] identities; ``photos``: int64 [N] photo ids (a same-identity
            pair of one photo in two subsets is no genuine pair: counted, left out).
        k: impostor distances kept (the k smallest, exactly).
        closest: impostor pairs kept with their indices (the ``closest`` smallest).
        count_at: thresholds at which to count every impostor pair (distance <= t).
    """
    n = len(vectors)
    small, near = SmallestK(k), SmallestK(closest)
    genuine, genuine_index, same_photo = [], [], 0
    at = np.zeros(len(count_at), np.int64)
    for s, d in _blocks(vectors, block):
        b = d.shape[0]
        rows = np.arange(s, s + b)[:, None]
        cols = np.arange(s, n)[None, :]
        upper = cols > rows
        same = labels[rows] == labels[cols]
        one_photo = same & (photos[rows] == photos[cols]) & upper
        same_photo += int(one_photo.sum())
        gen = same & upper & ~one_photo
        genuine.append(d[gen])
        gr, gc = np.nonzero(gen)
        genuine_index.append(np.stack([gr + s, gc + s], axis=1))
        imp = upper & ~same
        values = d[imp]
        small.add(values)
        at += np.array([np.count_nonzero(values <= t) for t in count_at], np.int64)
        cand = imp & (d < near.bound())
        r, c = np.nonzero(cand)
        near.add(d[cand], (r + s).astype(np.int64) * n + (c + s))
    values, _ = small.sorted()
    near_d, near_p = near.sorted()
    pairs = np.stack([near_p // n, near_p % n], axis=1)
    m = count_impostor_pairs(labels)
    if small.seen != m:
        raise RuntimeError(f"saw {small.seen} impostor pairs, expected {m}")
    return PairScan(
        values,
        m,
        pairs,
        near_d,
        np.concatenate(genuine),
        np.concatenate(genuine_index).astype(np.int64),
        same_photo,
        tuple(int(c) for c in at),
    )


def operating_point(
    impostor_smallest: np.ndarray, impostor_pairs: int, genuine: np.ndarray, far: float
) -> dict:
    """The largest threshold t with (impostor distances <= t) / impostor_pairs <= far.

    With the impostor distances sorted n_1 <= ... <= n_m and k = floor(far * m), t is the
    float just below n_(k+1) (as ``facenet_tf.eval.verification.far_threshold``); ties at
    n_(k+1) are all rejected, so the achieved FAR may be below the target.

    Args:
        impostor_smallest: float64 ascending, at least the k + 1 smallest impostor
            distances (or all of them).
        impostor_pairs: m, the number of impostor pairs.
        genuine: float64 [G] genuine distances.
    """
    k = int(math.floor(far * impostor_pairs + 1e-9))
    if k >= impostor_pairs:
        t = float(max(impostor_smallest[-1], np.max(genuine, initial=0.0)))
    else:
        if k >= len(impostor_smallest):
            raise ValueError(
                f"need the {k + 1} smallest impostor distances, got {len(impostor_smallest)}"
            )
        t = float(np.nextafter(impostor_smallest[k], -np.inf))
    fa = int(np.searchsorted(impostor_smallest, t, side="right"))
    ta = int(np.sum(genuine <= t))
    return {"far": far, "threshold": t, "false_accepts": fa, "true_accepts": ta}


def needed_k(impostor_pairs: int, fars: Iterable[float]) -> int:
    """How many smallest impostor distances ``operating_point`` needs for every FAR."""
    return min(impostor_pairs, int(math.floor(max(fars) * impostor_pairs + 1e-9)) + 1)


def identity_weighted_rates(
    weights: np.ndarray,
    images_per_identity: np.ndarray,
    accepted_impostors: np.ndarray,
    genuine_per_identity: np.ndarray,
    accepted_genuine: np.ndarray,
) -> tuple[float, float]:
    """(FAR, TAR) at one threshold when identity i counts ``weights[i]`` times.

    Args:
        weights: float [I] copies of each identity (all ones: the measured set).
        images_per_identity: int [I] images n_i.
        accepted_impostors: int [A, 2] identity indices of the impostor pairs accepted.
        genuine_per_identity: int [I] genuine pairs g_i; ``accepted_genuine`` int [I]
            those accepted.

    Copies of one identity are one identity: pairs between them are not impostor pairs.
    """
    s = weights * images_per_identity
    impostor_pairs = (np.sum(s) ** 2 - np.sum(s**2)) / 2.0
    fa = np.sum(weights[accepted_impostors[:, 0]] * weights[accepted_impostors[:, 1]])
    tar = np.sum(weights * accepted_genuine) / np.sum(weights * genuine_per_identity)
    return float(fa / impostor_pairs), float(tar)


def identity_bootstrap(
    labels: np.ndarray,
    impostor_pairs_at: list[np.ndarray],
    genuine_labels: np.ndarray,
    genuine_accepted_at: list[np.ndarray],
    resamples: int = 200,
    seed: int = 0,
) -> list[dict]:
    """95% intervals of FAR and TAR at fixed thresholds, resampling identities.

    Pairs share images and identities, so the binomial count of false accepts overstates
    the confidence; resampling identities with replacement keeps that dependence.

    Args:
        labels: int [N] identity of every image used.
        impostor_pairs_at: per threshold, int [A, 2] image indices of the accepted
            impostor pairs.
        genuine_labels: int [G] identity of every genuine pair; ``genuine_accepted_at``:
            per threshold, bool [G] accepted.
    """
    ids, inverse, n_img = np.unique(labels, return_inverse=True, return_counts=True)
    g_ids = np.searchsorted(ids, genuine_labels)
    g_per = np.bincount(g_ids, minlength=len(ids))
    rng = np.random.default_rng(seed)
    draws = [
        np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids)).astype(float)
        for _ in range(resamples)
    ]
    out = []
    for pairs, accepted in zip(impostor_pairs_at, genuine_accepted_at, strict=True):
        id_pairs = inverse[pairs]
        acc = np.bincount(g_ids[accepted], minlength=len(ids))
        rates = np.array([identity_weighted_rates(w, n_img, id_pairs, g_per, acc) for w in draws])
        lo, hi = np.percentile(rates, [2.5, 97.5], axis=0)
        out.append({"far_95": [float(lo[0]), float(hi[0])], "tar_95": [float(lo[1]), float(hi[1])]})
    return out
