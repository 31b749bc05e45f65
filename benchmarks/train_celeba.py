r"""Trains a FaceNet model from scratch on CelebA (LFW-disjoint) on the CPU, within a budget.

Measures LFW view-1 DevTest verification accuracy before training (random
initialisation), during and after it, and draws the curve. LFW is never trained on.

Steps (each skipped when its output exists, so a re-run only trains):

1. Alignment, with the alignment binary (``python -m facenet_tf.align.align_dataset``,
   MTCNN, the model's template): CelebA's ``aligned_178x218``, ``wild`` and
   ``aligned_89x109`` (merged by identity in training), and the LFW images that
   ``pairsDevTest.txt`` names (a symlink tree, so only those are read).
2. With ``--distill_weight > 0``, distillation targets
   (``python -m facenet_tf.train.distill_targets``): the bundled ``dlib_resnet_v1``'s
   embedding of every training crop. Its time is reported apart from the training
   budget (it is computed once per data set).
3. Training (``facenet_tf.train.train_lib``): semi-hard triplets on P x K batches, plus
   the distillation term when asked, for ``--max_train_minutes``; DevTest accuracy at
   step 0, every ``--val_every`` steps and at the end.

Example:
  python benchmarks/train_celeba.py --model=nn4 --distill_weight=1 --optimizer=adam \
      --learning_rate=0.001 --max_train_minutes=28
"""

from __future__ import annotations

import collections
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags, logging

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
CELEBA_SETS = ("aligned_178x218", "wild", "aligned_89x109")

_MODEL = flags.DEFINE_string("model", "nn4", "Registry model to train from scratch.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/facenet_tf_train_celeba", "Run folder.")
_CACHE = flags.DEFINE_string(
    "aligned_dir", "/tmp/facenet_tf_celeba_aligned", "Aligned crops and targets (reused)."
)
_MINUTES = flags.DEFINE_float("max_train_minutes", 28.0, "Training-loop budget.")
_P = flags.DEFINE_integer("identities_per_batch", 16, "P.")
_K = flags.DEFINE_integer("images_per_identity", 4, "K.")
_OPTIMIZER = flags.DEFINE_string("optimizer", "adagrad", "adagrad (the paper), sgd or adam.")
_LR = flags.DEFINE_float("learning_rate", 0.05, "Learning rate (the paper: 0.05 with AdaGrad).")
_SCHEDULE = flags.DEFINE_string("lr_schedule", "constant", "constant or cosine (over steps).")
_DISTILL = flags.DEFINE_float("distill_weight", 0.0, "Weight of the distillation term (0: off).")
_TEACHER = flags.DEFINE_string("teacher", "dlib_resnet_v1", "Distillation teacher.")
_VAL_EVERY = flags.DEFINE_integer("val_every", 100, "Steps between DevTest evaluations.")
_STEPS = flags.DEFINE_integer("train_steps", 100000, "Upper bound; the budget stops first.")
_SEED = flags.DEFINE_integer("seed", 0, "Initialisation and data seed.")
_FRESH = flags.DEFINE_boolean("fresh", True, "Delete the workdir first (no resumption).")
_TAG = flags.DEFINE_string("tag", "", "Suffix of the result and plot names.")
_PLOT = flags.DEFINE_string("plot", "", "PNG to draw (default docs/training_curve_{model}...).")
_RESULTS = flags.DEFINE_string("results", "", "JSON of figures (default benchmarks/results/).")
_COMPARE = flags.DEFINE_multi_string(
    "compare", [], "LABEL=WORKDIR of another run whose DevTest curve is drawn alongside."
)
_LABEL = flags.DEFINE_string("label", "this run", "Legend label of this run's curve.")
_REPLOT = flags.DEFINE_string(
    "replot_title", "", "Only redraw the plot of --workdir with this title."
)


def _run_binary(args: list[str]) -> float:
    t0 = time.time()
    subprocess.run([sys.executable, "-m", *args], check=True, cwd=REPO)
    return time.time() - t0


def prepare(cache: Path, template: str) -> dict:
    """Aligns the training sets; returns folders (and the raw LFW tree for DevTest) and timings."""
    timings, manifests = {}, {}
    sources = {s: DATA / "celeba" / s for s in CELEBA_SETS}
    for name, source in sources.items():
        out = cache / template / name
        timings[f"align_{name}_seconds_this_invocation"] = round(
            _run_binary(
                ["facenet_tf.align.align_dataset", f"--input_dir={source}", f"--output_dir={out}",
                 f"--template={template}", "--output_format=jpg", "--progress=false"]
            ), 1,
        )  # fmt: skip
        with open(out / "align_manifest.csv", newline="") as f:
            statuses = collections.Counter(row["status"] for row in csv.DictReader(f))
        # "skipped": aligned by an earlier invocation (its crop exists).
        manifests[name] = {
            "inputs": sum(statuses.values()),
            "aligned": statuses.pop("aligned", 0) + statuses.pop("skipped", 0),
            **statuses,
        }
    return {
        "train_dirs": [str(cache / template / s) for s in CELEBA_SETS],
        "val_dir": str(DATA / "lfw" / "lfw-deepfunneled"),
        "timings": timings,
        "alignment": manifests,
    }


def teacher_devtest_accuracy(teacher: str) -> float:
    """DevTest accuracy of the teacher through its face pipeline (``facenet_tf.embed``)."""
    from facenet_tf.eval.evaluator import PairEvaluator
    from facenet_tf.face_pipeline import FacePipeline

    evaluator = PairEvaluator(DATA / "lfw" / "pairsDevTest.txt", DATA / "lfw" / "lfw-deepfunneled")
    return evaluator(FacePipeline(teacher))["accuracy"]


def _read_metrics(workdir: Path, distill_weight: float = 0.0) -> list[dict]:
    records = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        if "distill_loss" in r:
            r["distill_loss_weighted"] = distill_weight * r["distill_loss"]
    return records


def plot_curve(
    records: list[dict], title: str, path: str, others: dict[str, list[dict]] | None = None
) -> None:
    """Training losses and DevTest accuracy against the step (other runs' accuracy too)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val/accuracy" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.array([r["step"] for r in train])

    def smooth(values, label, color):
        values = np.asarray(values)
        left.plot(steps, values, color=color, lw=0.5, alpha=0.35)
        if len(values) >= 20:
            kernel = np.ones(20) / 20
            left.plot(steps[19:], np.convolve(values, kernel, "valid"), color=color, label=label)

    distilled = "distill_loss" in train[0]
    if distilled:
        smooth([r["distill_loss"] for r in train], "distillation ||f - t||^2 (mean of 20)", "C3")
        smooth([r["loss"] - r["distill_loss_weighted"] for r in train],
               "semi-hard triplet (mean of 20)", "C0")  # fmt: skip
    else:
        smooth([r["loss"] for r in train], "semi-hard triplet loss (mean of 20)", "C0")
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.set_ylim(bottom=0)
    twin = left.twinx()
    active = [100 * r["fraction_active_triplets"] for r in train]
    twin.plot(steps, active, color="C1", lw=0.6, alpha=0.5, label="active triplets (%)")
    twin.set_ylabel("active triplets (%)", color="C1")
    twin.set_ylim(0, 105)
    lines = [ln for ln in left.get_lines() + twin.get_lines() if not ln.get_label().startswith("_")]
    left.legend(lines, [x.get_label() for x in lines], fontsize=8, loc="upper right")
    curves = {_LABEL.value: val}
    for label, other in (others or {}).items():
        curves[label] = [r for r in other if "val/accuracy" in r]
    everything = []
    for i, (label, points) in enumerate(curves.items()):
        vs = [r["step"] for r in points]
        acc = [100 * r["val/accuracy"] for r in points]
        everything += acc
        right.plot(vs, acc, "o-", color=f"C{2 + 2 * i}", label=label, ms=4)
        for s, a in zip(vs, acc, strict=True):
            right.annotate(f"{a:.1f}", (s, a), textcoords="offset points", xytext=(0, 6),
                           ha="center", fontsize=7)  # fmt: skip
    if others:
        right.legend(fontsize=8, loc="lower right")
    right.axhline(50, color="0.6", ls=":", lw=0.8)
    right.set_xlabel("step")
    right.set_ylabel("LFW DevTest accuracy (%, best threshold)")
    right.set_ylim(45, max(everything + [60]) + 5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> None:
    del argv
    workdir = Path(_WORKDIR.value)
    others = {}
    for entry in _COMPARE.value:
        label, _, other = entry.partition("=")
        others[label] = _read_metrics(Path(other))
    if _REPLOT.value:
        plot_curve(_read_metrics(workdir, _DISTILL.value), _REPLOT.value, _PLOT.value, others)
        return
    from facenet_tf.models.registry import get_model_info
    from facenet_tf.train import train_lib
    from facenet_tf.train.config import TrainConfig

    template = get_model_info(_MODEL.value).align_template
    cache = Path(_CACHE.value)
    data = prepare(cache, template)
    targets = ""
    if _DISTILL.value > 0:
        targets = str(cache / template / f"targets_{_TEACHER.value}.npz")
        if not Path(targets).is_file():
            data["timings"]["distill_targets_seconds_this_invocation"] = round(
                _run_binary(
                    ["facenet_tf.train.distill_targets",
                     f"--data_dir={','.join(data['train_dirs'])}", f"--output={targets}",
                     f"--teacher={_TEACHER.value}", f"--source_template={template}",
                     "--progress=false"]
                ), 1,
            )  # fmt: skip
        data["teacher_devtest_accuracy"] = teacher_devtest_accuracy(_TEACHER.value)
    if _FRESH.value and workdir.exists():
        shutil.rmtree(workdir)
    config = TrainConfig(
        model=_MODEL.value,
        data_dir=tuple(data["train_dirs"]),
        workdir=str(workdir),
        identities_per_batch=_P.value,
        images_per_identity=_K.value,
        augment={"jpeg_prob": 0.2},
        optimizer=_OPTIMIZER.value,
        learning_rate=_LR.value,
        lr_schedule=_SCHEDULE.value,
        distill_targets=targets,
        distill_weight=_DISTILL.value if targets else 1.0,
        train_steps=_STEPS.value,
        max_train_minutes=_MINUTES.value,
        seed=_SEED.value,
        log_every=1,
        checkpoint_every=100,
        val_every=_VAL_EVERY.value,
        val_pairs=str(DATA / "lfw" / "pairsDevTest.txt"),
        val_images_dir=data["val_dir"],
        progress=False,
    )
    t0 = time.time()
    result = train_lib.run(config)
    wall = time.time() - t0
    records = _read_metrics(workdir, config.distill_weight)
    val = [r for r in records if "val/accuracy" in r]
    train = [r for r in records if "loss" in r]
    rates = sorted(r["images_per_sec"] for r in train[1:]) or [0.0]
    from facenet_tf.data.folder import scan_folder_tree
    from facenet_tf.data.sampler import build_identity_table

    index = scan_folder_tree(list(config.data_dir))
    table = build_identity_table(index.labels, config.min_images_per_identity)
    recipe = f"{config.optimizer} lr {config.learning_rate} ({config.lr_schedule})"
    figures = {
        "model": config.model,
        "data": "CelebA aligned_178x218 + wild + aligned_89x109, aligned by align_dataset "
        f"({template}), merged by identity",
        "train_images": len(index),
        "train_identities_sampled": int(table.num_identities),
        "train_images_sampled": int(table.counts.sum()),
        "batch": f"{config.identities_per_batch} x {config.images_per_identity}",
        "optimizer": recipe,
        "loss": "semi-hard triplet, margin 0.2"
        + (f" + {config.distill_weight} x distillation from {_TEACHER.value}" if targets else ""),
        "steps": result.final_step,
        "images_seen": result.final_step * config.global_batch_size,
        "wall_seconds_training_run": round(wall, 1),
        "max_train_minutes": config.max_train_minutes,
        "median_train_images_per_sec": round(rates[len(rates) // 2], 2),
        "devtest_accuracy_by_step": {r["step"]: round(r["val/accuracy"], 4) for r in val},
        "devtest_accuracy_random_init": val[0]["val/accuracy"],
        "devtest_accuracy_final": val[-1]["val/accuracy"],
        "first_20_loss_mean": sum(r["loss"] for r in train[:20]) / max(len(train[:20]), 1),
        "last_20_loss_mean": sum(r["loss"] for r in train[-20:]) / max(len(train[-20:]), 1),
        "teacher_devtest_accuracy_same_crops": data.get("teacher_devtest_accuracy"),
        "preparation": data["timings"],
        "alignment": data["alignment"],
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    print(json.dumps(figures, indent=1))
    name = f"train_celeba_{config.model}{_TAG.value}"
    results = _RESULTS.value or str(REPO / "benchmarks" / "results" / f"{name}.json")
    Path(results).write_text(json.dumps(figures, indent=1) + "\n")
    plot = _PLOT.value or str(
        REPO / "docs" / f"training_curve_{config.model}_celeba{_TAG.value}.png"
    )
    title = (
        f"{config.model} from scratch on CelebA (LFW-disjoint), CPU, {wall / 60:.0f} min wall, "
        f"{result.final_step} steps of {figures['batch']}, {recipe}\n{figures['loss']}"
    )
    plot_curve(records, title, plot, others)
    logging.info("wrote %s and %s", results, plot)


if __name__ == "__main__":
    app.run(main)
