"""Clustering at scale: quality on all of LFW and CelebA, time and memory on synthetic data.

Stages (flags; any combination):

* ``--embed``: ``facenet_tf.embed`` with its defaults (``on_no_face="nan"``, so that a
  photo without a detectable face is a NaN row, counted, instead of stopping the run) on
  all 13,233 LFW deep-funneled photos and on every CelebA photo of ``identities.txt``.
  Cached as ``.npz`` (``paths``, ``identities``, ``embeddings`` float32 [N, D] with NaN
  rows, ``no_face`` bool [N], ``model``) under ``--cache_dir`` (default ``$FACENET_TF_HOME``; ``lfw_all/`` and
  ``cluster/``); a run resumes from the partial file of an interrupted one.
* ``--tune``: on CelebA only (LFW-disjoint people), the graph clustering's threshold, k
  and algorithm, scored with pairwise and BCubed F (``facenet_tf.eval.clustering``).
* ``--tune_small``: on CelebA only, the default for small inputs (``method="auto"`` up to
  ``AUTO_GRAPH_ABOVE`` faces): random subsets of ``--small_sizes`` faces (``--small_seeds``
  seeds each; whole identities drawn in random order, so that most people have several
  photos, as in a photo collection) clustered by agglomerative at a grid of factors of the
  verify threshold and by the graph method (both algorithms) at its shipped settings;
  BCubed and pairwise F per size, mean and spread over the seeds.
* ``--lfw``: all 13,233 LFW photos (5,749 people), clustered once with the paper's
  agglomerative method at the verify threshold (the former small-input default) and at
  its clustering threshold, and with the graph method (each algorithm) at its shipped
  settings: pairwise and BCubed precision / recall / F, number of clusters, seconds and
  peak memory; then LFW subsets of ``--small_sizes`` faces, ``facenet_tf.cluster``'s
  default beside the former default. Evaluation only: nothing is chosen on it.
* ``--scale``: synthetic clusters of unit vectors (D = 128) at 10k and 100k points (1M
  with ``--million``; ``--quick``: 2k and 10k): seconds and peak memory of the graph
  method beside agglomerative, the latter where its N x N matrix fits ``--agg_max``.

Usage (about 15 minutes on 2 cores with the embeddings cached; the first ``--embed``
takes about 15 more):
    nice -n 10 python benchmarks/cluster_lfw.py --embed --tune --tune_small --lfw --scale
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "cluster_lfw.json"

_EMBED = flags.DEFINE_bool("embed", False, "Embed (or load cached) LFW and CelebA.")
_TUNE = flags.DEFINE_bool("tune", False, "Choose the graph settings on CelebA.")
_TUNE_SMALL = flags.DEFINE_bool("tune_small", False, "Choose the small-input default on CelebA.")
_SMALL_SIZES = flags.DEFINE_list(
    "small_sizes", ["200", "1000", "2000", "4000"], "--tune_small sizes."
)
_SMALL_SEEDS = flags.DEFINE_integer("small_seeds", 10, "--tune_small subsets per size.")
_LFW = flags.DEFINE_bool("lfw", False, "Score the methods on all of LFW.")
_SCALE = flags.DEFINE_bool("scale", False, "Time and memory on synthetic clusters.")
_QUICK = flags.DEFINE_bool("quick", False, "Small synthetic sizes only.")
_MILLION = flags.DEFINE_bool("million", False, "Add N = 1,000,000 to --scale.")
_SIZES = flags.DEFINE_list("sizes", [], "--scale sizes instead of the defaults.")
_AGG_MAX = flags.DEFINE_integer(
    "agg_max", 10_000, "Largest N for which --scale runs agglomerative (N x N float64)."
)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir",
    None,
    "Folder of the embedding caches (lfw_all/, cluster/); default $FACENET_TF_HOME.",
)
_ONLY = flags.DEFINE_list("only", ["lfw", "celeba"], "Sets to embed with --embed.")
_CHUNK = 512


def lfw_items() -> tuple[list[str], list[str]]:
    """All LFW deep-funneled photos, sorted, with their identity (the folder name)."""
    root = DATA / "lfw" / "lfw-deepfunneled"
    paths = sorted(root.glob("*/*.jpg"))
    return [str(p) for p in paths], [p.parent.name for p in paths]


def celeba_items() -> tuple[list[str], list[str]]:
    """Every CelebA photo of ``identities.txt`` with its identity."""
    root = DATA / "celeba"
    rows = [line.split() for line in (root / "identities.txt").read_text().splitlines()]
    return [str(root / p) for p, _ in rows], [i for _, i in rows]


def embed_cached(path: Path, items: tuple[list[str], list[str]]) -> dict[str, np.ndarray]:
    """``facenet_tf.embed`` defaults (no-face photos as NaN rows) over ``items``, in
    chunks; the partial file lets an interrupted run resume."""
    import warnings

    import facenet_tf
    from facenet_tf.face_pipeline import FaceNotFoundWarning

    if path.exists():
        return dict(np.load(path))
    paths, identities = items
    part_file = path.with_name(path.stem + ".partial.npz")
    done = list(np.load(part_file)["embeddings"]) if part_file.exists() else []
    model = facenet_tf.default_model_name()
    begin, first = time.perf_counter(), len(done)
    for start in range(len(done), len(paths), _CHUNK):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FaceNotFoundWarning)
            done.extend(facenet_tf.embed(paths[start : start + _CHUNK], on_no_face="nan"))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(part_file, embeddings=np.asarray(done, np.float32))
        rate = (len(done) - first) / (time.perf_counter() - begin)
        print(f"{path.parent.name}: {len(done)}/{len(paths)} ({rate:.1f} photos/s)", flush=True)
    x = np.asarray(done, np.float32)
    out = {
        "paths": np.asarray(paths),
        "identities": np.asarray(identities),
        "embeddings": x,
        "no_face": np.isnan(x).any(axis=1),
        "model": np.asarray(model),
    }
    np.savez(path, **out)
    part_file.unlink(missing_ok=True)
    return out


class PeakRss:
    """Peak resident memory (MiB) of this process during a ``with`` block, sampled every
    5 ms above the RSS at entry (``ru_maxrss`` cannot be reset between measurements)."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def extra_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _faces(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """The embedded faces of a cache (float32 [N, D], identities [N]) and the number of
    photos without a face, which are left out."""
    keep = ~data["no_face"]
    return data["embeddings"][keep], data["identities"][keep], int((~keep).sum())


def _run(fn, *args, **kwargs) -> tuple[np.ndarray, float, float]:
    """(result, seconds, peak extra MiB) of one call."""
    with PeakRss() as mem:
        begin = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds = time.perf_counter() - begin
    return out, seconds, mem.extra_mib


def _scores(identities, labels) -> dict:
    from facenet_tf.eval.clustering import clustering_scores

    s = clustering_scores(identities.tolist(), labels).to_dict()
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}


def _line(name: str, row: dict) -> str:
    return (
        f"{name:<34} pairwise P/R/F {row['pairwise_precision']:.3f} {row['pairwise_recall']:.3f}"
        f" {row['pairwise_f1']:.3f}  BCubed P/R/F {row['bcubed_precision']:.3f} "
        f"{row['bcubed_recall']:.3f} {row['bcubed_f']:.3f}  clusters {row['num_clusters']:>5}"
        + (f"  {row['seconds']:.1f} s  +{row['peak_mib']:.0f} MiB" if "seconds" in row else "")
    )


TUNE_THRESHOLDS = (0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.14, 0.20)
TUNE_K = (8, 16, 32, 64)
TUNE_SWEEP_K = 32  # k of the threshold sweep


def tune(data: dict[str, np.ndarray], default: float) -> dict:
    """On CelebA: threshold x algorithm at k = TUNE_SWEEP_K, then k at each algorithm's
    best threshold.
    The graph is built once per (threshold, k) and split by both algorithms."""
    from facenet_tf.eval import graph_clustering as G

    x, ids, no_face = _faces(data)
    print(f"CelebA: {len(x)} faces of {len(set(ids.tolist()))} identities ({no_face} no face)")
    rows = []

    def run(t: float, k: int) -> None:
        graph = G.knn_graph(x, t, k=k)
        for algorithm in G.ALGORITHMS:
            if algorithm == "connected_components":
                labels = G.connected_components(graph)
            else:
                g = graph.copy()
                g.data = np.maximum(1.0 - g.data / 2.0, 1e-6)
                labels = G.chinese_whispers(g)
            row = {"algorithm": algorithm, "threshold": t, "k": k, **_scores(ids, labels)}
            rows.append(row)
            print(_line(f"{algorithm} t={t:.4g} k={k}", row), flush=True)

    for t in sorted({*TUNE_THRESHOLDS, default}):
        run(t, TUNE_SWEEP_K)
    best = {}
    for algorithm in G.ALGORITHMS:
        mine = [r for r in rows if r["algorithm"] == algorithm]
        best[algorithm] = max(mine, key=lambda r: r["bcubed_f"])["threshold"]
    for t in sorted(set(best.values())):
        for k in TUNE_K:
            if k != TUNE_SWEEP_K:
                run(t, k)
    return {"faces": len(x), "no_face": no_face, "rows": rows, "best_threshold": best}


SMALL_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0, 1.2)


def small_subset(ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` faces: whole identities in a random order (the last one cut short),
    so that a subset holds people with several photos, like a photo collection."""
    rng = np.random.default_rng(seed)
    people, inverse = np.unique(ids, return_inverse=True)
    members = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(inverse))]
    picked: list[np.ndarray] = []
    count = 0
    for p in rng.permutation(len(people)):
        picked.append(members[starts[p] : starts[p + 1]])
        count += len(picked[-1])
        if count >= n:
            break
    return np.sort(np.concatenate(picked)[:n])


def tune_small(data: dict[str, np.ndarray], verify: float, sizes: list[int], seeds: int) -> dict:
    """On CelebA subsets: agglomerative at ``SMALL_FACTORS`` x the verify threshold against
    the graph method (both algorithms) at its shipped threshold and k."""
    from facenet_tf.eval import graph_clustering as G
    from facenet_tf.eval.clustering import cluster_embeddings
    from facenet_tf.tasks import GRAPH_THRESHOLD_SCALE

    x, ids, no_face = _faces(data)
    graph_t = GRAPH_THRESHOLD_SCALE * verify
    rows = []
    for n in sizes:
        for seed in range(seeds):
            keep = small_subset(ids, n, seed)
            xs, ys = x[keep], ids[keep]
            people = len(set(ys.tolist()))
            runs = {
                f"agglomerative x{f:g}": partial(
                    cluster_embeddings, xs, "agglomerative", distance_threshold=f * verify
                )
                for f in SMALL_FACTORS
            }
            for a in G.ALGORITHMS:
                runs[f"graph {a}"] = partial(G.graph_cluster, xs, graph_t, algorithm=a)
            for name, fn in runs.items():
                s = _scores(ys, fn())
                rows.append({"n": n, "seed": seed, "people": people, "method": name, **s})
            print(f"N={n} seed={seed}: {people} people", flush=True)
    print(f"BCubed F mean+-std over {seeds} subsets, N = {sizes}")
    summary = {}
    for n in sizes:
        for name in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["n"] == n and r["method"] == name]
            entry = summary.setdefault(name, {})
            for key in ("bcubed_f", "pairwise_f1"):
                v = np.array([r[key] for r in mine])
                entry[f"{key}_{n}"] = round(float(v.mean()), 4)
                entry[f"{key}_{n}_std"] = round(float(v.std()), 4)
    for name, entry in summary.items():
        per_size = [entry[f"bcubed_f_{n}"] for n in sizes]
        entry["bcubed_f_mean"] = round(float(np.mean(per_size)), 4)
        entry["bcubed_f_worst"] = round(float(np.min(per_size)), 4)
        print(
            f"{name:<28} BCubed F "
            + " ".join(
                f"{entry[f'bcubed_f_{n}']:.3f}+-{entry[f'bcubed_f_{n}_std']:.3f}" for n in sizes
            )
            + f"  worst {entry['bcubed_f_worst']:.3f}  pairwise F "
            + " ".join(f"{entry[f'pairwise_f1_{n}']:.3f}" for n in sizes)
        )
    # The factor whose worst size scores best: no input size is given a poor default.
    agg = {k: v for k, v in summary.items() if k.startswith("agglomerative")}
    best = max(agg, key=lambda k: (agg[k]["bcubed_f_worst"], agg[k]["bcubed_f_mean"]))
    cw = summary["graph chinese_whispers"]
    print(
        f"sizes {sizes}; best agglomerative by worst size: {best} (worst {agg[best]['bcubed_f_worst']:.3f},"
        f" mean {agg[best]['bcubed_f_mean']:.3f}); graph chinese_whispers worst "
        f"{cw['bcubed_f_worst']:.3f}, mean {cw['bcubed_f_mean']:.3f}"
    )
    return {
        "faces": len(x),
        "no_face": no_face,
        "verify_threshold": verify,
        "graph_threshold": graph_t,
        "sizes": sizes,
        "seeds": seeds,
        "factors": list(SMALL_FACTORS),
        "best_agglomerative": best,
        "best_factor": SMALL_FACTORS[list(agg).index(best)],
        "summary": summary,
        "rows": rows,
    }


def lfw(data: dict[str, np.ndarray], verify: float, sizes: list[int], seeds: int) -> dict:
    """All of LFW: agglomerative (the paper's) at the verify threshold (the default for
    small inputs before ``--tune_small``) and at ``AGGLOMERATIVE_THRESHOLD_SCALE`` x it
    (the default now), the graph method at its shipped settings; then random subsets of
    ``sizes`` faces (as in ``tune_small``) clustered by ``facenet_tf.cluster``'s default
    beside the old default."""
    import facenet_tf
    from facenet_tf.eval import graph_clustering as G
    from facenet_tf.eval.clustering import cluster_embeddings
    from facenet_tf.tasks import AGGLOMERATIVE_THRESHOLD_SCALE, GRAPH_THRESHOLD_SCALE

    agg_t, graph_t = AGGLOMERATIVE_THRESHOLD_SCALE * verify, GRAPH_THRESHOLD_SCALE * verify
    x, ids, no_face = _faces(data)
    print(f"LFW: {len(x)} faces of {len(set(ids.tolist()))} people ({no_face} no face)")
    runs = {
        f"agglomerative average t={t:.4g}": partial(
            cluster_embeddings, x, "agglomerative", distance_threshold=t
        )
        for t in (verify, agg_t)
    }
    for a in G.ALGORITHMS:
        name = f"graph {a} t={graph_t:.4g} k={G.DEFAULT_K}"
        runs[name] = partial(G.graph_cluster, x, graph_t, algorithm=a)
    rows = {}
    for name, fn in runs.items():
        labels, seconds, mib = _run(fn)
        rows[name] = {**_scores(ids, labels), "seconds": seconds, "peak_mib": mib}
        print(_line(name, rows[name]), flush=True)
    peer = rows[next(iter(runs))]
    ratios = {
        name: {
            "speedup": peer["seconds"] / row["seconds"],
            "memory_ratio": peer["peak_mib"] / max(row["peak_mib"], 1.0),
        }
        for name, row in rows.items()
        if row is not peer
    }
    for name, r in ratios.items():
        print(
            f"{name}: {r['speedup']:.1f}x faster, {r['memory_ratio']:.1f}x less peak memory "
            f"than agglomerative at t={verify:.4g} (same run)"
        )
    small = []
    for n in sizes:
        for seed in range(seeds):
            keep = small_subset(ids, n, seed)
            xs, ys = x[keep], ids[keep]
            old = cluster_embeddings(xs, "agglomerative", distance_threshold=verify)
            new = facenet_tf.cluster(xs)
            for name, labels in (("old default", old), ("facenet_tf.cluster default", new)):
                small.append({"n": n, "seed": seed, "method": name, **_scores(ys, labels)})
    small_summary = {}
    for name in ("old default", "facenet_tf.cluster default"):
        entry = small_summary.setdefault(name, {})
        for n in sizes:
            for key in ("bcubed_f", "pairwise_f1"):
                v = [r[key] for r in small if r["n"] == n and r["method"] == name]
                entry[f"{key}_{n}"] = round(float(np.mean(v)), 4)
        print(
            f"LFW subsets, {name:<28} BCubed F "
            + " ".join(f"N={n}: {entry[f'bcubed_f_{n}']:.3f}" for n in sizes)
            + "  pairwise F "
            + " ".join(f"{entry[f'pairwise_f1_{n}']:.3f}" for n in sizes)
        )
    return {
        "faces": len(x),
        "no_face": no_face,
        "threshold": verify,
        "agglomerative_threshold": agg_t,
        "graph_threshold": graph_t,
        "rows": rows,
        "vs_agglomerative": ratios,
        "subsets": {"sizes": sizes, "seeds": seeds, "summary": small_summary, "rows": small},
    }


def synthetic(n: int, dim: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, dim] unit vectors around n / 10 random centres, identity sizes drawn
    from a Zipf law (many small identities, a few large), within-identity squared L2
    about 0.08: tight enough for a 0.1683 threshold to link most of an identity."""
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.zipf(1.6, size=n), n // 10) - 1
    ids = rng.permutation(n // 10)[ids % (n // 10)]
    ids[: n // 10] = np.arange(n // 10)  # every identity present
    sigma = np.sqrt(0.08 / (2 * dim))
    centres = rng.normal(size=(n // 10, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.empty((n, dim), np.float32)
    for start in range(0, n, 1 << 16):
        part = ids[start : start + (1 << 16)]
        v = centres[part] + sigma * rng.normal(size=(len(part), dim))
        x[start : start + len(part)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return x, ids


def scale(sizes: list[int], agg_max: int, threshold: float, graph_threshold: float) -> dict:
    """Seconds and peak memory of agglomerative (where it fits) and the graph method."""
    from facenet_tf.eval import graph_clustering as G
    from facenet_tf.eval.clustering import cluster_embeddings

    rows = []
    for n in sizes:
        x, ids = synthetic(n)
        runs = {}
        if n <= agg_max:
            runs["agglomerative"] = partial(
                cluster_embeddings, x, "agglomerative", distance_threshold=threshold
            )
        for a in G.ALGORITHMS:
            runs[f"graph {a}"] = partial(G.graph_cluster, x, graph_threshold, algorithm=a)
        for name, fn in runs.items():
            labels, seconds, mib = _run(fn)
            print(f"N={n} {name}: {seconds:.1f} s, +{mib:.0f} MiB", flush=True)
            row = {"n": n, "method": name, **_scores(ids, labels)}
            row.update(seconds=seconds, peak_mib=mib)
            rows.append(row)
            print(_line(f"N={n} {name}", row), flush=True)
    return {"threshold": threshold, "graph_threshold": graph_threshold, "dim": 128, "rows": rows}


def main(argv: list[str]) -> None:
    del argv
    from facenet_tf.pretrained.cache import cache_home

    cache = Path(_CACHE_DIR.value) if _CACHE_DIR.value else cache_home()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if _EMBED.value:
        sets = {"lfw": (cache / "lfw_all" / "embeddings.npz", lfw_items)}
        sets["celeba"] = (cache / "cluster" / "celeba_embeddings.npz", celeba_items)
        for name in _ONLY.value:
            path, items = sets[name]
            data = embed_cached(path, items())
            results.setdefault("embeddings", {})[name] = {
                "photos": len(data["paths"]),
                "identities": len(set(data["identities"].tolist())),
                "no_face": int(data["no_face"].sum()),
                "model": str(data["model"]),
                "cache": str(path),
            }
            print(name, results["embeddings"][name])
    from facenet_tf.tasks import GRAPH_THRESHOLD_SCALE, default_threshold

    threshold = default_threshold()
    graph_threshold = GRAPH_THRESHOLD_SCALE * threshold
    if _TUNE.value:
        data = dict(np.load(cache / "cluster" / "celeba_embeddings.npz"))
        results["tune_celeba"] = tune(data, threshold)
    if _TUNE_SMALL.value:
        data = dict(np.load(cache / "cluster" / "celeba_embeddings.npz"))
        sizes = [int(n) for n in _SMALL_SIZES.value]
        results["tune_small_celeba"] = tune_small(data, threshold, sizes, _SMALL_SEEDS.value)
    if _LFW.value:
        data = dict(np.load(cache / "lfw_all" / "embeddings.npz"))
        sizes = [int(n) for n in _SMALL_SIZES.value]
        results["lfw"] = lfw(data, threshold, sizes, _SMALL_SEEDS.value)
    if _SCALE.value:
        sizes = [2_000, 5_000] if _QUICK.value else [5_000, 10_000, 100_000]
        sizes += [1_000_000] if _MILLION.value else []
        sizes = [int(n) for n in _SIZES.value] or sizes
        rows = scale(sizes, _AGG_MAX.value, threshold, graph_threshold)
        key = "scale" + ("_quick" if _QUICK.value else "")
        old = [r for r in results.get(key, {}).get("rows", []) if r["n"] not in sizes]
        results[key] = {**rows, "rows": old + rows["rows"]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
