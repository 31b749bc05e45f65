"""Forward + backward time and peak memory of the triplet losses beside the previous ones.

For B in {180, 720, 1800} and D = 128 (unit vectors, 40 faces per identity as in the
paper, or shuffled identities of random sizes with --labels=general), each loss of
`facenet_tf.losses` is called and differentiated with `tf.GradientTape`, eagerly as a
custom training loop runs it (or inside `tf.function` with --mode=function), beside:

* the previous sort-based implementation (tests/losses/previous_triplet.py: an [B, B]
  ``argsort`` of each anchor's negatives, binary searches, autodiff distances);
* TF's ``argsort`` of the [B, B] distance matrix alone, the sort the previous mining needed.

Each (loss, B) runs in a fresh process, in which the three are timed round-robin so that
load from other jobs falls on them alike; the median and the minimum are reported, with
the machine and its load average. Peak memory: in another fresh process per
implementation, traced and warmed up on 64 rows, VmHWM above the resident size before
one forward + backward pass at B (reset through /proc/self/clear_refs).

Usage (from the repository root):
    nice -n 10 python benchmarks/triplet_loss.py
    nice -n 10 python benchmarks/triplet_loss.py --batch_sizes=1800 --repeats=15
Writes benchmarks/results/triplet_loss.csv (--csv), the same rows with the machine in
triplet_loss.json beside it, and prints a table.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["180", "720", "1800"], "Batch sizes B.")
DIM = flags.DEFINE_integer("dim", 128, "Embedding size D.")
REPEATS = flags.DEFINE_integer("repeats", 9, "Timed forward+backward passes of each.")
LOSS_NAMES = flags.DEFINE_list(
    "losses", ["semihard", "batch_hard", "batch_all"], "Losses to measure."
)
MODE = flags.DEFINE_enum(
    "mode", "eager", ["eager", "function"], "Call eagerly, or inside a tf.function."
)
LABELS = flags.DEFINE_enum(
    "labels",
    "pk",
    ["pk", "general"],
    "pk: P identities x 40 faces, in order; general: shuffled identities of 1 to 79 faces.",
)
CSV = flags.DEFINE_string(
    "csv", str(REPO / "benchmarks" / "results" / "triplet_loss.csv"), "CSV file to write."
)
CHILD = flags.DEFINE_string("child", None, "Internal: 'loss,B' timed in this process.")
CHILD_MEMORY = flags.DEFINE_string(
    "child_memory", None, "Internal: 'impl,loss,B' whose peak memory this process measures."
)

MARGIN = 0.2
PER_IDENTITY = 40


# --- one (loss, B) in a child process ------------------------------------------------------


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _peak_bytes(run) -> int:
    """Peak resident memory of one call of `run` above the resident size before it."""
    baseline = _status_bytes("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak to the current resident size
    except OSError:
        pass  # the whole-process peak then: an overstatement
    run()
    return _status_bytes("VmHWM") - baseline


def _labels(batch: int):
    import numpy as np

    if LABELS.value == "pk":
        return np.arange(batch) // PER_IDENTITY
    rng = np.random.default_rng(1)
    sizes = []
    while sum(sizes) < batch:
        sizes.append(int(rng.integers(1, 2 * PER_IDENTITY)))
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes)[:batch])


def _setup(loss: str, batch: int):
    """(labels, embeddings, distances, {"ours", "previous"} -> forward + backward)."""
    import numpy as np
    import tensorflow as tf

    from facenet_tf import losses
    from facenet_tf.losses.distances import pairwise_distances
    from tests.losses import previous_triplet

    implementations = {
        "ours": {
            "semihard": losses.triplet_semihard_loss,
            "batch_hard": losses.triplet_batch_hard_loss,
            "batch_all": losses.triplet_batch_all_loss,
        }[loss],
        "previous": previous_triplet.LOSSES[loss],
    }
    rng = np.random.default_rng(0)
    labels = tf.constant(_labels(batch), tf.int32)
    x = rng.normal(size=(batch, DIM.value)).astype(np.float32)
    x = tf.constant(x / np.linalg.norm(x, axis=1, keepdims=True))

    def forward_backward(fn):
        def step(labels, x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = fn(labels, x, margin=MARGIN)
            return value, tape.gradient(value, x)

        step = tf.function(step) if MODE.value == "function" else step
        # .numpy() waits for the result.
        return lambda y=labels, e=x: [t.numpy() for t in step(y, e)]

    runs = {name: forward_backward(fn) for name, fn in implementations.items()}
    return labels, x, pairwise_distances(x), runs


def _measure(loss: str, batch: int) -> dict:
    import numpy as np
    import tensorflow as tf

    _, _, distances, runs = _setup(loss, batch)
    runs["argsort"] = lambda: tf.argsort(distances, axis=1).numpy()
    results = {name: run() for name, run in runs.items()}  # trace (function mode), warm up
    times = {name: [] for name in runs}
    for _ in range(REPEATS.value):
        for name, run in runs.items():  # round-robin: the load hits all three alike
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    (value, grad), (previous_value, previous_grad) = results["ours"], results["previous"]
    out = {
        "value": float(value),
        "value_rel_diff": float(abs(value - previous_value) / max(abs(previous_value), 1e-30)),
        "grad_max_diff": float(np.abs(grad - previous_grad).max()),
        "grad_max": float(np.abs(previous_grad).max()),
    }
    for name, seconds in times.items():
        out[f"{name}_ms"] = 1e3 * float(np.median(seconds))
        out[f"{name}_min_ms"] = 1e3 * float(np.min(seconds))
    return out


def _measure_memory(impl: str, loss: str, batch: int) -> dict:
    labels, x, _, runs = _setup(loss, batch)
    warm = min(64, batch)
    runs[impl](labels[:warm], x[:warm])  # trace and warm up on a small batch
    return {"peak_bytes": _peak_bytes(runs[impl])}


# --- parent: one child per (loss, B), table and files ------------------------------------


def _run_child(child_flag: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    argv = [
        sys.executable,
        __file__,
        child_flag,
        f"--dim={DIM.value}",
        f"--repeats={REPEATS.value}",
        f"--mode={MODE.value}",
        f"--labels={LABELS.value}",
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{child_flag}: {proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _machine() -> dict:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            names = [x.split(":", 1)[1].strip() for x in f if x.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    import tensorflow as tf

    return {
        "cpu": model,
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)"),
    }


def _table(rows: list[dict]) -> str:
    header = (
        "| loss | B | ours ms (min) | previous ms (min) | argsort ms | ours / previous | "
        "ours / argsort | ours peak MB | previous peak MB | value rel. diff |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        cells = [
            r["loss"],
            str(r["batch"]),
            f"{r['ours_ms']:.1f} ({r['ours_min_ms']:.1f})",
            f"{r['previous_ms']:.1f} ({r['previous_min_ms']:.1f})",
            f"{r['argsort_ms']:.1f}",
            f"{r['ours_over_previous']:.2f}",
            f"{r['ours_over_argsort']:.2f}",
            f"{r['ours_peak_mb']:.0f}",
            f"{r['previous_peak_mb']:.0f}",
            f"{r['value_rel_diff']:.1e}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    if CHILD.value:
        loss, batch = CHILD.value.split(",")
        print("RESULT " + json.dumps(_measure(loss, int(batch))), flush=True)
        return
    if CHILD_MEMORY.value:
        impl, loss, batch = CHILD_MEMORY.value.split(",")
        print("RESULT " + json.dumps(_measure_memory(impl, loss, int(batch))), flush=True)
        return
    machine = _machine()
    load_start = os.getloadavg()
    rows = []
    for loss in LOSS_NAMES.value:
        for batch in sorted(int(b) for b in BATCH_SIZES.value):
            row = {"loss": loss, "batch": batch, "dim": DIM.value}
            row.update(_run_child(f"--child={loss},{batch}"))
            for impl in ("ours", "previous"):
                memory = _run_child(f"--child_memory={impl},{loss},{batch}")
                row[f"{impl}_peak_mb"] = memory["peak_bytes"] / 2**20
            row["ours_over_previous"] = row["ours_ms"] / row["previous_ms"]
            row["ours_over_argsort"] = row["ours_ms"] / row["argsort_ms"]
            row["load_average_1min"] = os.getloadavg()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    machine["load_average_start"] = list(load_start)
    machine["load_average_end"] = list(os.getloadavg())
    settings = {"mode": MODE.value, "labels": LABELS.value, "repeats": REPEATS.value}
    path = Path(CSV.value)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    summary = {"machine": machine, "settings": settings, "rows": rows}
    path.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(_table(rows))
    print(json.dumps({"machine": machine, "settings": settings}))
    print(f"wrote {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    app.run(main)
