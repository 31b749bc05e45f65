"""Gallery search: build time, query latency/QPS, recall@1/@10 and bytes per face of every
``facenet_tf.Gallery`` index kind, beside numpy brute force (what ``facenet_tf.identify``
does: ``distances.pairwise_distances`` and a sort), measured in the same run.

Synthetic data: unit vectors in clusters (one per identity, like face embeddings) at
N = 10k and 100k (1M with --million; --quick: 2k and 10k). Queries are other members of
the same clusters. Recall is against the exact top k of the numpy peer.

Real embeddings of the default model, as ``benchmarks/cluster_lfw.py --embed`` caches them
under its ``--cache_dir`` (each part is skipped, saying so, when its file is absent):

* CelebA (``--celeba_cache``, default ``$FACENET_TF_HOME/cluster/celeba_embeddings.npz``;
  people disjoint from LFW, the set settings may be chosen on): each approximate kind at
  several settings against flat (exact): recall@1/@10 of the other faces nearest to 1,000
  of the faces, leave-one-out rank-1 identification (the nearest other face has the same
  identity) and batch queries/s. ``auto``'s approximate kind is chosen on this.
* LFW (``--lfw_cache``, default ``$FACENET_TF_HOME/lfw_all/embeddings.npz``; evaluation
  only, nothing is chosen on it): the same table, and the 128-byte (sq8) accuracy cost:
  leave-one-out rank-1 with float32 (flat) vs 8-bit (sq8) storage and the change of the
  squared-L2 distance of 20,000 random pairs.

Usage (from the repository root):
    nice -n 10 python benchmarks/gallery_search.py            # 10k, 100k
    nice -n 10 python benchmarks/gallery_search.py --quick    # 2k, 10k
    nice -n 10 python benchmarks/gallery_search.py --million  # adds 1M
    ... --nosynthetic --output=benchmarks/results/gallery_search_real.json  # real only
Writes benchmarks/results/gallery_search.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facenet_tf.distances import pair_distances, pairwise_distances  # noqa: E402
from facenet_tf.gallery import Gallery, indexes  # noqa: E402
from facenet_tf.pretrained.cache import cache_home  # noqa: E402

_QUICK = flags.DEFINE_bool("quick", False, "Small sizes (2k, 10k).")
_MILLION = flags.DEFINE_bool("million", False, "Also N = 1,000,000 (minutes, ~2 GB).")
_QUERIES = flags.DEFINE_integer("queries", 200, "Queries per size.")
_LFW = flags.DEFINE_string(
    "lfw_cache",
    None,
    "LFW embeddings (.npz) of benchmarks/cluster_lfw.py --embed; default "
    "$FACENET_TF_HOME/lfw_all/embeddings.npz. Absent: the real-embedding part is skipped.",
)
_CELEBA = flags.DEFINE_string(
    "celeba_cache",
    None,
    "CelebA embeddings (.npz) of benchmarks/cluster_lfw.py --embed; default "
    "$FACENET_TF_HOME/cluster/celeba_embeddings.npz. Absent: that part is skipped.",
)
_SYNTHETIC = flags.DEFINE_bool("synthetic", True, "Run the synthetic sizes.")
_OUT = flags.DEFINE_string("output", str(REPO / "benchmarks/results/gallery_search.json"), "")

D = 128
IDENTITIES_PER_FACE = 1 / 20  # 20 faces per identity
VARIANTS = [
    ("flat", {}),
    ("sq8", {}),
    ("ivf_flat", {"nprobe": 8}),
    ("ivf_flat", {"nprobe": 16}),
    ("ivf_flat", {"nprobe": 64}),
    ("ivf_sq8", {"nprobe": 8}),
    ("ivf_sq8", {"nprobe": 16}),
    ("ivf_sq8", {"nprobe": 64}),
    ("hnsw", {"ef_search": 32}),
    ("hnsw", {"ef_search": 64}),
    ("hnsw", {"ef_search": 128}),
]
# On real embeddings: the defaults (indexes.DEFAULT_NPROBE, DEFAULT_EF_SEARCH) and more.
REAL_VARIANTS = [
    ("ivf_flat", {"nprobe": 16}),
    ("ivf_flat", {"nprobe": 64}),
    ("ivf_sq8", {"nprobe": 16}),
    ("ivf_sq8", {"nprobe": 64}),
    ("hnsw", {"ef_search": 64}),
    ("hnsw", {"ef_search": 128}),
]


def clustered(n: int, seed: int = 0, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = max(1, int(n * IDENTITIES_PER_FACE))
    centres = rng.normal(size=(ids, D))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = rng.integers(0, ids, size=n)
    x = centres[who] + noise * rng.normal(size=(n, D)) / np.sqrt(D)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), who


def brute_force(q: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """The peer: the library's pairwise distances and a sort (as tasks.identify), in
    chunks of the gallery to bound memory."""
    best_d = np.full((len(q), 0), np.inf)
    best_i = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(g), 50_000):
        d = pairwise_distances(q, g[start : start + 50_000], "squared_l2")
        i = np.arange(start, start + d.shape[1])[None].repeat(len(q), 0)
        best_d = np.concatenate([best_d, d], 1)
        best_i = np.concatenate([best_i, i], 1)
        order = np.argsort(best_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(best_d, order, 1)
        best_i = np.take_along_axis(best_i, order, 1)
    return best_i


def recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    return float(
        np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact, strict=True)])
    )


def run_size(n: int, root: Path) -> list[dict]:
    x, who = clustered(n + _QUERIES.value, seed=n)
    g_vec, q = x[:n], x[n:]
    labels = [str(w) for w in who[:n]]
    t = time.perf_counter()
    exact = brute_force(q, g_vec, 10)
    peer_s = time.perf_counter() - t
    t = time.perf_counter()
    for row in q[:20]:
        brute_force(row[None], g_vec, 10)
    peer_single_ms = (time.perf_counter() - t) / 20 * 1e3
    rows = [
        {"n": n, "kind": "numpy brute force (peer)", "params": {}, "build_s": 0.0,
         "batch_qps": len(q) / peer_s, "single_ms": peer_single_ms, "recall@1": 1.0,
         "recall@10": 1.0, "bytes_per_face": 4 * D}
    ]  # fmt: skip
    built: dict[str, Path] = {}
    for kind, params in VARIANTS:
        path = root / f"{kind}_{n}"
        build_s = None
        if kind not in built:
            t = time.perf_counter()
            with Gallery.create(path, index=kind) as g:
                g.add(g_vec, labels)
            build_s = time.perf_counter() - t
            built[kind] = path
        g = Gallery.open(built[kind], readonly=True)
        assert g.index_kind == kind, (g.index_kind, kind)
        for name, value in params.items():
            setattr(g, name, value)
        g.search(q[:5], k=10)  # warm up
        t = time.perf_counter()
        found = g.search(q, k=10).ids
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        for row in q[:50]:
            g.search(row[None], k=10)
        single_ms = (time.perf_counter() - t) / 50 * 1e3
        info = g.info()
        rows.append(
            {"n": n, "kind": kind, "params": params, "build_s": build_s,
             "batch_qps": len(q) / batch_s, "single_ms": single_ms,
             "recall@1": recall(found, exact, 1), "recall@10": recall(found, exact, 10),
             "bytes_per_face": info["index_bytes_per_face"],
             "speedup_single_vs_peer": peer_single_ms / single_ms}
        )  # fmt: skip
        print(_line(rows[-1]), flush=True)
    print(_line(rows[0]), flush=True)
    return rows


def _line(r: dict) -> str:
    params = ",".join(f"{k}={v}" for k, v in r["params"].items())
    build = f"{r['build_s']:.1f}" if r["build_s"] is not None else "-"
    return (
        f"{r['n']:>8} {r['kind'] + (' ' + params if params else ''):<28} build {build:>6}s "
        f"single {r['single_ms']:8.2f} ms  batch {r['batch_qps']:9.0f} q/s  "
        f"R@1 {r['recall@1']:.3f} R@10 {r['recall@10']:.3f}  {r['bytes_per_face']:.0f} B/face"
    )


def load_embeddings(value: str | None, default: str, flag: str):
    """(embeddings float32 [N, D] of the photos with a face, identities [N], model, path)
    of a cache of benchmarks/cluster_lfw.py, or None (said) when it is absent."""
    path = Path(value) if value else cache_home() / default
    if not path.exists():
        print(
            f"{path}: absent; skipping its part (write it with `python "
            f"benchmarks/cluster_lfw.py --embed --cache_dir=DIR`, then pass "
            f"--{flag}=DIR/{default})"
        )
        return None
    z = np.load(path, allow_pickle=False)
    keep = ~z["no_face"]
    return z["embeddings"][keep], z["identities"][keep], str(z["model"]), path


def real_gallery(root: Path, tag: str, data, kind: str):
    """A read-only gallery of ``kind`` holding ``data``'s embeddings (its ids are
    0..N-1), made once."""
    x, who, model, _ = data
    folder = root / f"{tag}_{kind}"
    if not folder.exists():
        with Gallery.create(folder, model=model, index=kind) as g:
            g.add(x, list(who))
    g = Gallery.open(folder, readonly=True)
    assert g.index_kind == kind, (g.index_kind, kind)
    return g


def leave_one_out_rank1(g, x: np.ndarray, who: np.ndarray) -> float:
    """The share of faces with a mate whose nearest other gallery face is a mate (a
    face an approximate index returns no neighbour for counts as a miss)."""
    ids = g.ids
    nearest = others(g.search(x, k=2).ids, ids, 1)[:, 0]
    hit = (nearest >= 0) & (who[np.searchsorted(ids, nearest).clip(0, len(ids) - 1)] == who)
    return float(np.mean(hit[has_mate(who)]))


def others(found: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """int64 [Q, k]: each row of ``found`` without the query's own id ``own`` [Q]
    (-1 padded)."""
    out = np.full((len(found), k), -1, np.int64)
    for i, (row, me) in enumerate(zip(found, own, strict=True)):
        rest = row[(row != me) & (row >= 0)][:k]
        out[i, : len(rest)] = rest
    return out


def has_mate(who: np.ndarray) -> np.ndarray:
    names, counts = np.unique(who, return_counts=True)
    return np.isin(who, names[counts >= 2])


def approximate_on_real(root: Path, tag: str, data) -> list[dict]:
    """Flat and each of REAL_VARIANTS on real embeddings: recall@1/@10 of the other faces
    nearest to 1,000 of the faces against flat, leave-one-out rank-1, batch queries/s."""
    x, who, _, _ = data
    q = np.random.default_rng(1).choice(len(x), 1_000, replace=False)
    rows, exact = [], None
    for kind, params in [("flat", {}), *REAL_VARIANTS]:
        g = real_gallery(root, tag, data, kind)
        for name, value in params.items():
            setattr(g, name, value)
        g.search(x[q[:5]], k=11)  # warm up
        t = time.perf_counter()
        found = others(g.search(x[q], k=11).ids, g.ids[q], 10)
        qps = len(q) / (time.perf_counter() - t)
        exact = found if exact is None else exact
        if kind.startswith("ivf"):
            params = {"nlist": g.info()["index"]["nlist"], **params}
        rows.append(
            {"set": tag, "faces": len(x), "kind": kind, "params": params,
             "batch_qps": qps, "recall@1": recall(found, exact, 1),
             "recall@10": recall(found, exact, 10), "rank1": leave_one_out_rank1(g, x, who)}
        )  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def lfw_sq8_cost(root: Path, lfw) -> dict:
    x, who, model, path = lfw
    out = {"source": str(path), "model": model, "faces": int(len(x))}
    stored = {}
    for kind in ("flat", "sq8"):
        g = real_gallery(root, "lfw", lfw, kind)
        out[f"rank1_{kind}"] = leave_one_out_rank1(g, x, who)
        out[f"bytes_per_face_{kind}"] = g.info()["index_bytes_per_face"]
        stored[kind] = g.vectors(g.ids)
    out["rank1_queries"] = int(has_mate(who).sum())
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(x), 20_000), rng.integers(0, len(x), 20_000)
    same = who[a] == who[b]
    d32 = pair_distances(stored["flat"][a], stored["flat"][b])
    d8 = pair_distances(stored["sq8"][a], stored["sq8"][b])
    diff = np.abs(d8 - d32)
    out.update(
        pairs=20_000,
        distance_abs_change_mean=float(diff.mean()),
        distance_abs_change_p99=float(np.quantile(diff, 0.99)),
        distance_abs_change_max=float(diff.max()),
        same_identity_pairs=int(same.sum()),
    )
    from facenet_tf.tasks import default_threshold

    t = default_threshold(model)
    out["threshold"] = t
    out["verification_decisions_changed"] = int(np.sum((d32 <= t) != (d8 <= t)))
    print(json.dumps(out, indent=1))
    return out


def main(argv):
    del argv
    sizes = [2_000, 10_000] if _QUICK.value else [10_000, 100_000]
    if _MILLION.value:
        sizes.append(1_000_000)
    if not _SYNTHETIC.value:
        sizes = []
    results = {
        "command": "python benchmarks/gallery_search.py" + " --quick" * _QUICK.value
        + " --million" * _MILLION.value + " --nosynthetic" * (not _SYNTHETIC.value),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_avg_at_start": os.getloadavg()},
        "dim": D, "queries": _QUERIES.value, "auto_crossover": indexes.AUTO_CROSSOVER,
        "auto_approximate": indexes.AUTO_APPROXIMATE, "rows": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results["rows"] += run_size(n, Path(tmp))
        celeba = load_embeddings(_CELEBA.value, "cluster/celeba_embeddings.npz", "celeba_cache")
        lfw = load_embeddings(_LFW.value, "lfw_all/embeddings.npz", "lfw_cache")
        results["real_sources"] = {
            tag: str(data[3]) for tag, data in (("celeba", celeba), ("lfw", lfw)) if data
        }
        if celeba:
            results["celeba_approximate"] = approximate_on_real(Path(tmp), "celeba", celeba)
        if lfw:
            results["lfw_sq8"] = lfw_sq8_cost(Path(tmp), lfw)
            results["lfw_approximate"] = approximate_on_real(Path(tmp), "lfw", lfw)
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(json.dumps(results, indent=1) + "\n")
    print(f"-> {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
