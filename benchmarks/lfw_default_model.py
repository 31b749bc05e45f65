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

Usage (all, about 20 minutes on 2 cores):
    python benchmarks/lfw_default_model.py --choose --cost --calibrate --view2
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import facenet_tf  # noqa: E402
from facenet_tf.align.face_align import ONE_FACE_POLICIES  # noqa: E402
from facenet_tf.eval import verification  # noqa: E402
from facenet_tf.eval.evaluator import PairEvaluator  # noqa: E402
from facenet_tf.face_pipeline import FacePipeline, describe  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw"
THRESHOLDS = ROOT / "facenet_tf" / "pretrained" / "thresholds.json"
_MODEL = flags.DEFINE_string("model", None, "Registered model; default the default model.")
_LFW_DIR = flags.DEFINE_string("lfw_dir", str(LFW / "lfw-deepfunneled"), "LFW image tree.")
_PAIRS_DIR = flags.DEFINE_string("pairs_dir", str(LFW), "Folder of the pairs*.txt files.")
_OUT = flags.DEFINE_string(
    "output", str(ROOT / "benchmarks/results/lfw_default_model.json"), "JSON report."
)
_CHOOSE = flags.DEFINE_bool("choose", False, "Step 1: face choice and flip on view 1.")
_CALIBRATE = flags.DEFINE_bool("calibrate", False, "Step 2: default threshold on DevTrain.")
_VIEW2 = flags.DEFINE_bool("view2", False, "Step 3: score view 2 once with the defaults.")
_COST = flags.DEFINE_bool("cost", False, "Time embed without and with flip (interleaved).")
_COST_IMAGES = flags.DEFINE_integer("cost_images", 400, "Photos timed for the cost of flip.")


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


def calibrate(model: str) -> dict:
    """Step 2: the default threshold from ``facenet_tf.embed`` on DevTrain, checked on DevTest."""
    train, test = _evaluator("pairsDevTrain"), _evaluator("pairsDevTest")
    d_train = train.distances(facenet_tf.embed([str(p) for p in train.paths], model=model))
    d_test = test.distances(facenet_tf.embed([str(p) for p in test.paths], model=model))
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
    table = json.loads(THRESHOLDS.read_text()) if THRESHOLDS.exists() else {}
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


def main(argv):
    del argv
    model = _MODEL.value or facenet_tf.default_model_name()
    out = Path(_OUT.value)
    report = json.loads(out.read_text()) if out.exists() else {}
    report["model"] = model
    report["pipeline_defaults"] = describe(FacePipeline(model))
    if _CHOOSE.value:
        report["choose_view1"] = choose(model)
    if _COST.value:
        report["flip_cost"] = flip_cost(model)
    if _CALIBRATE.value:
        report["calibrate_view1"] = calibrate(model)
    if _VIEW2.value:
        report["view2"] = view2(model)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"report -> {out}")


if __name__ == "__main__":
    app.run(main)
