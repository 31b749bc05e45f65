"""Forward + backward time and peak memory of the triplet losses against naive O(B^3) ones.

For B in {180, 720, 1800, 3600} and D = 128 (unit vectors, 40 faces per identity as in
the paper), each loss of `facenet_tf.losses` is timed beside a naive formulation written
here that materialises [B, B, B] triplet tensors. Every measurement runs in a fresh
process so its peak memory (VmHWM, reset through /proc/self/clear_refs) is its own.
Naive runs whose memory, extrapolated as B^3 from the smallest batch, exceeds
--naive_limit_gb are skipped and reported with the extrapolated figure.

Usage (from the repository root):
    nice -n 10 python benchmarks/triplet_loss.py
    nice -n 10 python benchmarks/triplet_loss.py --batch_sizes=180,720 --repeats=3
Writes benchmarks/results/triplet_loss.csv (--csv) and prints a table.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["180", "720", "1800", "3600"], "Batch sizes B.")
DIM = flags.DEFINE_integer("dim", 128, "Embedding size D.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed forward+backward passes (median).")
NAIVE_LIMIT_GB = flags.DEFINE_float(
    "naive_limit_gb", 4.0, "Skip naive runs whose extrapolated memory exceeds this."
)
CSV = flags.DEFINE_string(
    "csv", str(REPO / "benchmarks" / "results" / "triplet_loss.csv"), "CSV file to write."
)
LOSS_NAMES = flags.DEFINE_list(
    "losses", ["semihard", "batch_hard", "batch_all"], "Losses to measure."
)
CHILD = flags.DEFINE_string("child", None, "Internal: 'impl,loss,B' measured in this process.")

MARGIN = 0.2
PER_IDENTITY = 40


# --- naive [B, B, B] formulations (benchmark baselines only) ---------------------------


def _naive_masks(tf, labels, d):
    same = tf.equal(labels[:, None], labels[None, :])
    pos = tf.logical_and(same, tf.logical_not(tf.eye(tf.size(labels), dtype=tf.bool)))
    return pos, tf.logical_not(same)


def naive_semihard(tf, labels, x):
    """For every (a, p, n): is n a negative of a strictly farther than p? -> [B, B, B]."""
    from facenet_tf.losses.distances import squared_l2_distances

    d = squared_l2_distances(x)
    pos, neg = _naive_masks(tf, labels, d)
    farther = tf.logical_and(neg[:, None, :], d[:, None, :] > d[:, :, None])
    d_an_cube = tf.broadcast_to(d[:, None, :], tf.shape(farther))
    inf = tf.constant(float("inf"))
    nearest = tf.reduce_min(tf.where(farther, d_an_cube, inf), axis=2)
    farthest = tf.reduce_max(tf.where(neg, d, -inf), axis=1, keepdims=True)
    d_an = tf.where(tf.reduce_any(farther, axis=2), nearest, farthest)
    hinge = tf.where(pos, tf.nn.relu(d - d_an + MARGIN), tf.zeros_like(d))
    return tf.reduce_sum(hinge) / tf.reduce_sum(tf.cast(pos, tf.float32))


def naive_batch_hard(tf, labels, x):
    """max over valid (p, n) of d_ap - d_an, from the full [B, B, B] difference cube."""
    from facenet_tf.losses.distances import squared_l2_distances

    d = squared_l2_distances(x)
    pos, neg = _naive_masks(tf, labels, d)
    valid = tf.logical_and(pos[:, :, None], neg[:, None, :])
    gap = d[:, :, None] - d[:, None, :]
    hardest = tf.reduce_max(tf.where(valid, gap, -float("inf")), axis=[1, 2])
    has = tf.reduce_any(valid, axis=[1, 2])
    per_anchor = tf.where(has, tf.nn.relu(hardest + MARGIN), tf.zeros_like(hardest))
    return tf.reduce_sum(per_anchor) / tf.reduce_sum(tf.cast(has, tf.float32))


def naive_batch_all(tf, labels, x):
    """Sum of the [B, B, B] hinge cube over valid triplets / number of active ones."""
    from facenet_tf.losses.distances import squared_l2_distances

    d = squared_l2_distances(x)
    pos, neg = _naive_masks(tf, labels, d)
    valid = tf.logical_and(pos[:, :, None], neg[:, None, :])
    hinge = tf.where(valid, tf.nn.relu(d[:, :, None] - d[:, None, :] + MARGIN), 0.0)
    return tf.reduce_sum(hinge) / tf.reduce_sum(tf.cast(hinge > 0, tf.float32))


# --- one measurement (child process) ----------------------------------------------------


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _measure(impl: str, loss: str, batch: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from facenet_tf import losses

    ours = {
        "semihard": losses.triplet_semihard_loss,
        "batch_hard": losses.triplet_batch_hard_loss,
        "batch_all": losses.triplet_batch_all_loss,
    }
    naive = {
        "semihard": naive_semihard,
        "batch_hard": naive_batch_hard,
        "batch_all": naive_batch_all,
    }
    fn = ours[loss] if impl == "ours" else (lambda y, x: naive[loss](tf, y, x))

    rng = np.random.default_rng(0)
    labels = tf.constant(np.arange(batch) // PER_IDENTITY, tf.int32)
    x = rng.normal(size=(batch, DIM.value)).astype(np.float32)
    x = tf.constant(x / np.linalg.norm(x, axis=1, keepdims=True))

    @tf.function
    def step(labels, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(labels, x)
        return value, tape.gradient(value, x)

    baseline = _status_bytes("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak to the current resident size
    except OSError:
        pass
    value, _ = step(labels, x)  # trace + first run
    times = []
    for _ in range(REPEATS.value):
        start = time.perf_counter()
        out, grad = step(labels, x)
        float(out), grad.numpy()  # wait for the result
        times.append(time.perf_counter() - start)
    return {
        "value": float(value),
        "seconds": float(np.median(times)),
        "peak_bytes": _status_bytes("VmHWM") - baseline,
    }


def _run_child(impl: str, loss: str, batch: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    argv = [
        sys.executable,
        __file__,
        f"--child={impl},{loss},{batch}",
        f"--dim={DIM.value}",
        f"--repeats={REPEATS.value}",
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(lines[-1][len("RESULT ") :])


def _cube_gb(batch: int) -> float:
    return batch**3 * 4 / 1e9


def main(argv):
    del argv
    if CHILD.value:
        impl, loss, batch = CHILD.value.split(",")
        print("RESULT " + json.dumps(_measure(impl, loss, int(batch))), flush=True)
        return
    sizes = sorted(int(b) for b in BATCH_SIZES.value)
    rows = []
    for loss in LOSS_NAMES.value:
        # Naive memory grows as a * B^3 + c: fit it on the smallest B and twice that.
        naive_runs = {b: _run_child("naive", loss, b) for b in (sizes[0], 2 * sizes[0])}
        (b1, r1), (b2, r2) = sorted(naive_runs.items())
        slope = (r2.get("peak_bytes", 0) - r1.get("peak_bytes", 0)) / (b2**3 - b1**3)
        for batch in sizes:
            ours = _run_child("ours", loss, batch)
            estimate = r2.get("peak_bytes", 0) + max(slope, 0.0) * (batch**3 - b2**3)
            if batch in naive_runs:
                naive = naive_runs[batch]
            elif estimate > NAIVE_LIMIT_GB.value * 1e9:
                naive = {"skipped": f"skipped, est. {estimate / 1e9:.0f} GB"}
            else:
                naive = _run_child("naive", loss, batch)
            row = {
                "loss": loss,
                "batch": batch,
                "dim": DIM.value,
                "ours_ms": ours.get("seconds", float("nan")) * 1e3,
                "ours_peak_mb": ours.get("peak_bytes", float("nan")) / 2**20,
                "naive_ms": naive.get("seconds", float("nan")) * 1e3,
                "naive_peak_mb": naive.get("peak_bytes", float("nan")) / 2**20,
                "naive_note": naive.get("skipped", naive.get("error", "")),
                "cube_float32_gb": _cube_gb(batch),
                "value_diff": abs(
                    ours.get("value", float("nan")) - naive.get("value", float("nan"))
                ),
            }
            row["time_ratio_naive_over_ours"] = row["naive_ms"] / row["ours_ms"]
            row["memory_ratio_naive_over_ours"] = row["naive_peak_mb"] / row["ours_peak_mb"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    path = Path(CSV.value)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    print(_table(rows))
    print(f"wrote {path}")


def _table(rows: list[dict]) -> str:
    header = (
        "| loss | B | ours ms | ours peak MB | naive ms | naive peak MB | time ratio | "
        "memory ratio | one [B,B,B] f32 |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        if r["naive_note"]:
            naive = ["-", r["naive_note"], "-", "-"]
        else:
            naive = [
                f"{r['naive_ms']:.1f}",
                f"{r['naive_peak_mb']:.0f}",
                f"{r['time_ratio_naive_over_ours']:.1f}x",
                f"{r['memory_ratio_naive_over_ours']:.1f}x",
            ]
        cells = [r["loss"], str(r["batch"]), f"{r['ours_ms']:.1f}", f"{r['ours_peak_mb']:.0f}"]
        lines.append("| " + " | ".join(cells + naive + [f"{r['cube_float32_gb']:.2g} GB"]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main)
