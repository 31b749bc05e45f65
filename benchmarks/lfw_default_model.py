"""LFW figures of the default model through the public path, and its shipped policy.

Three steps, in the order the LFW protocol allows:

1. ``--choose``: on LFW view 1 only, the face choice (``center_weighted``, ``largest``,
   ``most_central``) and flip test-time augmentation, each through ``FacePipeline``
   (the code behind ``facenet_tf.embed``): DevTrain accuracy at its best threshold picks,
   DevTest accuracy at that threshold confirms. Also the cost of flip: photos/s of
   ``facenet_tf.embed`` with and without it on the same photos.
2. ``--calibrate``: ``facenet_tf.embed`` with its defaults on the DevTrain images gives
   the default verification threshold (best accuracy on DevTrain, checked on DevTest),
   written to ``facenet_tf/pretrained/thresholds.json`` with the pipeline's settings.
3. ``--view2``: ``facenet_tf.embed`` with its defaults on the 7,701 view-2 photos, scored
   once with the 10-fold protocol, and the accuracy of ``verify``'s shipped threshold on
   the same 6,000 pairs.
4. ``--far``: open-set operating points, not on LFW: ``facenet_tf.embed`` with its
   defaults on the ~21,000 CelebA images of ``../shared/data/celeba`` (identities
   disjoint from LFW's); at each FAR of ``--fars`` the largest threshold whose
   false-accept rate over every cross-identity pair is at most the target (exact order
   statistic) and the true-accept rate over every same-identity pair of two different
   photos there; written beside the DevTrain threshold in ``thresholds.json`` (the
   ``far`` record that ``facenet_tf.thresholds.far_threshold`` and ``verify(far=)``
   read). Embeddings are cached under ``--far_cache_dir`` (see
   ``benchmarks/far_thresholds.py``). A model trained on CelebA is calibrated on the
   identities held out from its training only (``--far_identities``, e.g. the harmonic
   split's ``heldout/``), never on its training identities.

Usage (steps 1-3, about 20 minutes on 2 cores; step 4 about 12 more):
    python benchmarks/lfw_default_model.py --choose --cost --calibrate --view2
    python benchmarks/lfw_default_model.py --far
    python benchmarks/lfw_default_model.py --model=mobilefacenet_harmonic_dlib --far
        --far_identities=$H/split/heldout --fars=1e-2,1e-3,1e-4
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import facenet_tf  # noqa: E402
from benchmarks import far_thresholds  # noqa: E402
from facenet_tf.align.face_align import ONE_FACE_POLICIES  # noqa: E402
from facenet_tf.eval import verification  # noqa: E402
from facenet_tf.eval.evaluator import PairEvaluator  # noqa: E402
from facenet_tf.face_pipeline import FacePipeline, describe  # noqa: E402
from facenet_tf.pretrained.cache import cache_home  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw"
THRESHOLDS = ROOT / "facenet_tf" / "pretrained" / "thresholds.json"
_MODEL = flags.DEFINE_string("model", None, "Registered model; default the default model.")
_LFW_DIR = flags.DEFINE_string("lfw_dir", str(LFW / "lfw-deepfunneled"), "LFW image tree.")
_PAIRS_DIR = flags.DEFINE_string("pairs_dir", str(LFW), "Folder of the pairs*.txt files.")
_OUT = flags.DEFINE_string(
    "output",
    None,
    "JSON report; default benchmarks/results/lfw_default_model.json for the default model "
    "and benchmarks/results/lfw_<model>.json for another.",
)
_CHOOSE = flags.DEFINE_bool("choose", False, "Step 1: face choice and flip on view 1.")
_CALIBRATE = flags.DEFINE_bool("calibrate", False, "Step 2: default threshold on DevTrain.")
_CROSS = flags.DEFINE_string(
    "cross_model",
    None,
    "With --calibrate: also the DevTrain threshold of cross-model pairs, one image embedded "
    "by --model and the other by this model (both orders); for harmonic models.",
)
_VIEW2 = flags.DEFINE_bool("view2", False, "Step 3: score view 2 once with the defaults.")
_COST = flags.DEFINE_bool("cost", False, "Time embed without and with flip (interleaved).")
_COST_IMAGES = flags.DEFINE_integer("cost_images", 400, "Photos timed for the cost of flip.")
_FAR = flags.DEFINE_bool("far", False, "Step 4: thresholds at calibrated FARs on CelebA.")
_FARS = flags.DEFINE_list("fars", ["1e-2", "1e-3", "1e-4", "1e-5"], "Target FARs of --far.")
_CELEBA_DIR = flags.DEFINE_string(
    "celeba_dir", str(ROOT.parent / "shared" / "data" / "celeba"), "CelebA tree (--far)."
)
_FAR_CACHE = flags.DEFINE_string(
    "far_cache_dir", None, "Embedding cache of --far; default $FACENET_TF_HOME/celeba_far."
)
_FAR_IDENTITIES = flags.DEFINE_string(
    "far_identities",
    None,
    "--far on these CelebA identities only: a folder whose subfolders are named by "
    "identity (a harmonic model's held-out split, harmonic_eval.py --make_split's "
    "heldout/), for a model trained on the other CelebA identities.",
)
FAR_COMMAND = "python benchmarks/lfw_default_model.py --far"


def restrict_identities(
    paths: list[Path], labels: np.ndarray, folder: str | None
) -> tuple[list[Path], np.ndarray]:
    """The images of the identities named by ``folder``'s subfolders (all without it).

    Raises:
        app.UsageError: ``folder`` names no CelebA identity.
    """
    if not folder:
        return paths, labels
    names = {int(d.name) for d in Path(folder).iterdir() if d.is_dir() and d.name.isdigit()}
    keep = np.isin(labels, sorted(names))
    if not keep.any():
        raise app.UsageError(f"--far_identities={folder}: no subfolder names a CelebA identity")
    return [p for p, k in zip(paths, keep, strict=True) if k], labels[keep]


def _evaluator(name: str) -> PairEvaluator:
    return PairEvaluator(Path(_PAIRS_DIR.value) / f"{name}.txt", _LFW_DIR.value)


def choose(model: str) -> dict:
    """Step 1: DevTrain/DevTest accuracy of every face choice, with and without flip."""
    train, test = _evaluator("pairsDevTrain"), _evaluator("pairsDevTest")
    rows = []
    for face in ONE_FACE_POLICIES:
        plain = FacePipeline(model, face=face, flip=False)
        crops = {name: ev.crops(plain) for name, ev in (("train", train), ("test", test))}
        for flip in (False, True):
            pipeline = FacePipeline(plain.embedder, face=face, flip=flip)
            d_train = train.distances(pipeline.embed_crops(crops["train"]))
            d_test = test.distances(pipeline.embed_crops(crops["test"]))
            res = verification.train_test_verification(d_train, train.issame, d_test, test.issame)
            rows.append({"face": face, "flip": flip, **res})
            print(
                f"face={face:<16} flip={flip!s:<5} DevTrain {100 * res['train_accuracy']:.2f}%"
                f"  DevTest {100 * res['test_accuracy']:.2f}%  threshold {res['threshold']:.4f}"
            )
    return {"rows": rows}


def flip_cost(model: str) -> dict:
    """photos/s of ``facenet_tf.embed`` without and with flip on the same DevTrain photos,
    timed in alternating chunks so that load from other processes hits both alike."""
    train = _evaluator("pairsDevTrain")
    paths = [str(p) for p in train.paths[: _COST_IMAGES.value]]
    chunk = 50
    # Warm-up at the timed size: model, detector, and the compiled kernels of each batch
    # shape (the first call at a new shape compiles; it must not count for either side).
    for flip in (False, True):
        facenet_tf.embed(paths[:chunk], model=model, flip=flip)
    seconds = {False: 0.0, True: 0.0}
    for start in range(0, len(paths), chunk):
        for flip in (False, True) if (start // chunk) % 2 == 0 else (True, False):
            begin = time.perf_counter()
            facenet_tf.embed(paths[start : start + chunk], model=model, flip=flip)
            seconds[flip] += time.perf_counter() - begin
    rate = {f"flip={f}": len(paths) / t for f, t in seconds.items()}
    cost = seconds[True] / seconds[False] - 1.0
    print(f"facenet_tf.embed photos/s on {len(paths)} DevTrain photos: {rate}; flip costs "
          f"{100 * cost:.1f}% more time")  # fmt: skip
    return {"photos_per_second": rate, "extra_time": cost, "photos": len(paths)}


def _both_orders(ev: PairEvaluator, new: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """[2P] cross-model distances of the pairs: (new, ref), then (ref, new)."""
    return np.concatenate([ev.distances(new, ref), ev.distances(ref, new)])


def calibrate(model: str) -> dict:
    """Step 2: the default threshold from ``facenet_tf.embed`` on DevTrain, checked on DevTest."""
    train, test = _evaluator("pairsDevTrain"), _evaluator("pairsDevTest")
    e_train = facenet_tf.embed([str(p) for p in train.paths], model=model)
    e_test = facenet_tf.embed([str(p) for p in test.paths], model=model)
    d_train, d_test = train.distances(e_train), test.distances(e_test)
    res = verification.train_test_verification(d_train, train.issame, d_test, test.issame)
    pipeline = describe(FacePipeline(model))
    entry = {
        "threshold": round(float(res["threshold"]), 4),
        "devtrain_accuracy": round(float(res["train_accuracy"]), 4),
        "devtest_accuracy": round(float(res["test_accuracy"]), 4),
        "pipeline": pipeline,
        "source": "best-accuracy squared-L2 threshold on LFW view-1 pairsDevTrain.txt "
        "(never view 2) of facenet_tf.embed with its defaults; "
        "python benchmarks/lfw_default_model.py --calibrate",
    }
    if _CROSS.value:
        reference = _CROSS.value
        r_train = facenet_tf.embed([str(p) for p in train.paths], model=reference)
        r_test = facenet_tf.embed([str(p) for p in test.paths], model=reference)
        cross = verification.train_test_verification(
            _both_orders(train, e_train, r_train),
            np.tile(train.issame, 2),
            _both_orders(test, e_test, r_test),
            np.tile(test.issame, 2),
        )
        entry["cross_model"] = {
            reference: {
                "threshold": round(float(cross["threshold"]), 4),
                "devtrain_accuracy": round(float(cross["train_accuracy"]), 4),
                "devtest_accuracy": round(float(cross["test_accuracy"]), 4),
                "source": "best-accuracy squared-L2 threshold on LFW view-1 "
                f"pairsDevTrain.txt of pairs with one image embedded by {model} and the "
                f"other by {reference} (both orders), facenet_tf.embed defaults; "
                f"python benchmarks/lfw_default_model.py --model={model} --calibrate "
                f"--cross_model={reference}",
            }
        }
    table = json.loads(THRESHOLDS.read_text()) if THRESHOLDS.exists() else {}
    if "far" in table.get(pipeline["model"], {}):  # step 4's record stays
        entry["far"] = table[pipeline["model"]]["far"]
    table[pipeline["model"]] = entry
    THRESHOLDS.write_text(json.dumps(table, indent=1) + "\n")
    print(f"default threshold {entry} -> {THRESHOLDS}")
    return entry


def view2(model: str) -> dict:
    """Step 3: view 2, 10-fold, ``facenet_tf.embed`` with its defaults; and the shipped threshold."""
    ev = _evaluator("pairs")
    start = time.perf_counter()
    emb = facenet_tf.embed([str(p) for p in ev.paths], model=model)
    seconds = time.perf_counter() - start
    res = ev.score(emb)
    shipped = facenet_tf.default_threshold(model)
    shipped_acc = verification.accuracy_at(ev.distances(emb), ev.issame, shipped)
    print(
        f"LFW view 2, facenet_tf.embed defaults: {100 * res['accuracy_mean']:.2f}% "
        f"+- {100 * res['accuracy_std']:.2f} (10-fold), VAL@1e-3 {100 * res['val_mean']:.2f}%, "
        f"AUC {res['auc']:.5f}; shipped threshold {shipped:.4f}: {100 * shipped_acc:.2f}% "
        f"on the 6,000 pairs; {len(ev.paths)} photos in {seconds:.0f} s "
        f"({len(ev.paths) / seconds:.1f} photos/s)"
    )
    return {
        "images": len(ev.paths),
        "embed_seconds": round(seconds, 1),
        "kfold": res,
        "shipped_threshold": shipped,
        "shipped_threshold_accuracy": shipped_acc,
    }


def far_points(model: str) -> dict:
    """Step 4: thresholds at each FAR of ``--fars`` over every CelebA pair."""
    fars = sorted((float(f) for f in _FARS.value), reverse=True)
    celeba = Path(_CELEBA_DIR.value)
    paths, labels = restrict_identities(
        *far_thresholds.celeba_images(celeba), _FAR_IDENTITIES.value
    )
    cache = Path(_FAR_CACHE.value) if _FAR_CACHE.value else cache_home() / "celeba_far"
    start = time.perf_counter()
    vectors, unreadable = far_thresholds.embed_cached(paths, model, cache)
    lost = ~np.isfinite(vectors).all(axis=1)
    subset = np.array([p.relative_to(celeba).parts[0] for p in paths])
    no_face = {s: int(np.sum(lost & (subset == s))) for s in far_thresholds.SUBSETS}
    keep = ~lost
    vec, lab = vectors[keep], labels[keep]
    kept_paths = [str(p.relative_to(celeba)) for p, k in zip(paths, keep, strict=True) if k]
    photos = far_thresholds.photo_ids(kept_paths)
    m = far_thresholds.count_impostor_pairs(lab)
    closest = far_thresholds.needed_k(m, fars)  # every false accept, with its images
    devtrain = facenet_tf.default_threshold(model)
    k = far_thresholds.needed_k(m, fars)
    scan = far_thresholds.scan_pairs(vec, lab, photos, k, closest, count_at=(devtrain,))
    g = len(scan.genuine)
    kinds = np.array([p.split("/")[0] for p in kept_paths])[scan.genuine_index]
    kinds = np.array(["+".join(sorted(pair)) for pair in kinds])
    points = []
    for far in fars:
        p = far_thresholds.operating_point(scan.impostor_smallest, m, scan.genuine, far)
        p["achieved_far"] = p["false_accepts"] / m
        p["tar"] = p["true_accepts"] / g
        points.append(p)
        print(
            f"FAR {far:g}: threshold {p['threshold']:.6f}  achieved FAR {p['achieved_far']:.3g} "
            f"({p['false_accepts']} of {m} impostor pairs)  TAR {100 * p['tar']:.2f}% "
            f"({p['true_accepts']} of {g} genuine pairs)"
        )
    seconds = time.perf_counter() - start
    accepted = [scan.closest[scan.closest_distances <= p["threshold"]] for p in points]
    if any(len(a) != p["false_accepts"] for a, p in zip(accepted, points, strict=True)):
        raise RuntimeError("the closest impostor pairs do not cover every false accept")
    intervals = far_thresholds.identity_bootstrap(
        lab,
        accepted,
        lab[scan.genuine_index[:, 0]],
        [scan.genuine <= p["threshold"] for p in points],
    )
    # The false accepts at the smallest FAR: which identity pairs and photos they involve
    # (mislabelled photos or look-alike identities concentrate them on a few).
    fa = scan.closest[scan.closest_distances <= points[-1]["threshold"]]
    id_pairs = np.sort(lab[fa], axis=1)
    uniq, counts = np.unique(id_pairs, axis=0, return_counts=True)
    top = np.argsort(-counts, kind="stable")[:10]
    which, command = "the CelebA images", FAR_COMMAND
    if model != facenet_tf.default_model_name():
        command += f" --model={model}"
    if _FAR_IDENTITIES.value:
        which = (
            f"the {len(np.unique(labels))} identities held out from the model's training "
            "(--far_identities) among the CelebA images"
        )
        command += " --far_identities=HELDOUT_SPLIT --fars=" + ",".join(_FARS.value)
    record = {
        "source": "largest squared-L2 threshold whose false-accept rate over every "
        f"cross-identity pair of {which} in shared/data/celeba (identities "
        "disjoint from LFW; aligned_178x218, aligned_89x109, wild) is <= far; TAR over "
        "every same-identity pair of two different photos; facenet_tf.embed with its "
        "defaults, photos without a detected face left out",
        "command": command,
        "pipeline": describe(FacePipeline(model)),
        "images": len(paths),
        "images_without_face": int(lost.sum()) - len(unreadable),
        "images_unreadable": len(unreadable),
        "images_used": int(keep.sum()),
        "identities_used": int(len(np.unique(lab))),
        "impostor_pairs": m,
        "genuine_pairs": g,
        "same_photo_pairs_left_out": scan.same_photo_pairs,
        "points": [
            {
                "far": p["far"],
                "threshold": p["threshold"],
                "false_accepts": p["false_accepts"],
                "true_accepts": p["true_accepts"],
                "achieved_far": float(f"{p['achieved_far']:.4g}"),
                "tar": round(p["tar"], 4),
            }
            for p in points
        ],
    }
    table = json.loads(THRESHOLDS.read_text()) if THRESHOLDS.exists() else {}
    table.setdefault(model, {})["far"] = record
    THRESHOLDS.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(points)} operating points -> {THRESHOLDS}")
    return {
        **record,
        "no_face_by_subset": no_face,
        "unreadable": unreadable,
        "seconds": round(seconds, 1),
        "identity_bootstrap_95": {
            f"{p['far']:g}": ci for p, ci in zip(points, intervals, strict=True)
        },
        "at_devtrain_threshold": {
            "threshold": devtrain,
            "false_accepts": scan.impostor_at[0],
            "far": scan.impostor_at[0] / m,
            "tar": float(np.mean(scan.genuine <= devtrain)),
        },
        "tar_by_subsets": {
            kind: {
                "genuine_pairs": int(np.sum(kinds == kind)),
                **{
                    f"{p['far']:g}": float(np.mean(scan.genuine[kinds == kind] <= p["threshold"]))
                    for p in points
                },
            }
            for kind in np.unique(kinds)
        },
        "genuine_distance_quantiles": {
            q: float(np.quantile(scan.genuine, q)) for q in (0.01, 0.5, 0.99)
        },
        "closest_impostor_pairs": [
            [kept_paths[i], kept_paths[j], float(d)]
            for (i, j), d in zip(scan.closest[:20], scan.closest_distances[:20], strict=True)
        ],
        "smallest_far_false_accepts": {
            "pairs": int(len(fa)),
            "images": int(len(np.unique(fa))),
            "identity_pairs": int(len(uniq)),
            "top_identity_pairs": [[*map(int, uniq[i]), int(counts[i])] for i in top],
        },
    }


def report_path(model: str) -> Path:
    """The default report of ``model``: one file per model, so sections never mix."""
    results = ROOT / "benchmarks" / "results"
    if model == facenet_tf.default_model_name():
        return results / "lfw_default_model.json"
    return results / f"lfw_{model}.json"


def main(argv):
    del argv
    model = _MODEL.value or facenet_tf.default_model_name()
    out = Path(_OUT.value or report_path(model))
    report = json.loads(out.read_text()) if out.exists() else {}
    if report.get("model", model) != model:
        raise app.UsageError(
            f"--output {out} holds the report of {report['model']!r}, not {model!r}: its "
            "sections would mix two models; pass another --output"
        )
    from facenet_tf.pretrained.cache import weights_sha256

    weights = weights_sha256(facenet_tf.get_embedder(model).model)
    if report and report.get("weights_sha256") != weights:
        # Figures of other weights under the same name (retrained, reshipped) must not
        # stand beside this run's: the report starts again.
        print(f"{out}: written for other weights of {model!r}; its old sections are dropped")
        report = {}
    report["model"] = model
    report["weights_sha256"] = weights
    report["pipeline_defaults"] = describe(FacePipeline(model))
    if _CHOOSE.value:
        report["choose_view1"] = choose(model)
    if _COST.value:
        report["flip_cost"] = flip_cost(model)
    if _CALIBRATE.value:
        report["calibrate_view1"] = calibrate(model)
    if _VIEW2.value:
        report["view2"] = view2(model)
    if _FAR.value:
        report["far_celeba"] = far_points(model)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"report -> {out}")


if __name__ == "__main__":
    app.run(main)
