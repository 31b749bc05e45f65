"""Faces per second of every registered model's forward pass on CPU, at batch 1 and 64.

Each model is built untrained (speed does not depend on the weights), wrapped in a
``tf.function`` with a fixed input signature and called on random float32 pixels at the
model's input size. Two warm-up calls (tracing, first-run allocations) are excluded. Each
timed repeat runs ``--calls_per_repeat`` calls at batch 1, or one call at larger batches;
the table gives the median faces/s over ``--repeats`` repeats, which is robust to other
work on a shared machine; the CSV records the 1-minute load average beside each row.
Results are printed and written as CSV.

Usage (from the repository root):
    nice -n 10 python benchmarks/embed_throughput.py
    nice -n 10 python benchmarks/embed_throughput.py --models=nn4,mobilefacenet --repeats=3
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = flags.DEFINE_list("models", [], "Registry names to time (default: all).")
BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "64"], "Batch sizes to time.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats per model and batch size.")
CALLS = flags.DEFINE_integer("calls_per_repeat", 8, "Calls per repeat at batch size 1.")
JIT = flags.DEFINE_boolean("jit_compile", False, "XLA-compile the forward pass.")
OUTPUT = flags.DEFINE_string(
    "output", str(REPO / "benchmarks" / "results" / "embed_throughput.csv"), "CSV written here."
)

FIELDS = (
    "model",
    "input_size",
    "batch_size",
    "faces_per_second",
    "ms_per_batch",
    "repeats",
    "calls_per_repeat",
    "jit_compile",
    "load_average_1m",
)


@dataclasses.dataclass(frozen=True)
class Config:
    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    repeats: int
    calls_per_repeat: int
    jit_compile: bool
    output: Path

    def __post_init__(self):
        from facenet_tf.models import list_models

        unknown = sorted(set(self.models) - set(list_models()))
        if unknown:
            raise ValueError(f"--models: unknown {unknown}; registered: {list_models()}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"--batch_sizes={self.batch_sizes}: need positive sizes")
        if self.repeats < 1 or self.calls_per_repeat < 1:
            raise ValueError("--repeats and --calls_per_repeat must be positive")


def _compiled_forward(model, spec, jit_compile: bool):
    import tensorflow as tf

    @tf.function(input_signature=[spec], jit_compile=jit_compile)
    def forward(x):
        return model(x, training=False)

    return forward


def time_model(name: str, config: Config) -> list[dict]:
    """Rows of FIELDS for one model at every batch size."""
    import tensorflow as tf

    from facenet_tf.models import get_model_info
    from facenet_tf.models.table import create_untrained_model

    height, width = get_model_info(name).input_size
    model = create_untrained_model(name)
    rows = []
    for batch in config.batch_sizes:
        spec = tf.TensorSpec((batch, height, width, 3), tf.float32)
        forward = _compiled_forward(model, spec, config.jit_compile)
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, spec.shape), tf.float32)
        for _ in range(2):  # warm-up: tracing and first-call allocations
            forward(x).numpy()
        calls = config.calls_per_repeat if batch == 1 else 1
        rates = []
        for _ in range(config.repeats):
            start = time.perf_counter()
            for _ in range(calls):
                forward(x).numpy()
            rates.append(batch * calls / (time.perf_counter() - start))
        rate = statistics.median(rates)
        rows.append(
            {
                "model": name,
                "input_size": f"{height}x{width}",
                "batch_size": batch,
                "faces_per_second": round(rate, 2),
                "ms_per_batch": round(1000.0 * batch / rate, 2),
                "repeats": config.repeats,
                "calls_per_repeat": calls,
                "jit_compile": config.jit_compile,
                # The machine may be shared: record how busy it was.
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
        print(f"  {name} batch {batch}: {rate:.1f} faces/s", flush=True)
    return rows


def format_rows(rows: list[dict], batch_sizes: tuple[int, ...]) -> str:
    """One line per model: faces/s and ms per batch at each batch size."""
    header = ["model", "input"]
    for batch in batch_sizes:
        header += [f"faces/s @{batch}", f"ms/batch @{batch}"]
    table = [header]
    for name in dict.fromkeys(r["model"] for r in rows):
        by_batch = {r["batch_size"]: r for r in rows if r["model"] == name}
        line = [name, by_batch[batch_sizes[0]]["input_size"]]
        for batch in batch_sizes:
            line += [f"{by_batch[batch]['faces_per_second']:.1f}"]
            line += [f"{by_batch[batch]['ms_per_batch']:.1f}"]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        )
        for r in table
    )


def run(config: Config) -> list[dict]:
    import tensorflow as tf

    print(
        f"tensorflow {tf.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, jit_compile={config.jit_compile}, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    for name in config.models:
        rows += time_model(name, config)
        gc.collect()  # release each model (NN1: 560 MB) before building the next
    config.output.parent.mkdir(parents=True, exist_ok=True)
    with open(config.output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(format_rows(rows, config.batch_sizes))
    print(f"wrote {config.output}")
    return rows


def main(argv):
    del argv
    from facenet_tf.models import list_models

    config = Config(
        models=tuple(MODELS.value) or tuple(list_models()),
        batch_sizes=tuple(int(b) for b in BATCH_SIZES.value),
        repeats=REPEATS.value,
        calls_per_repeat=CALLS.value,
        jit_compile=JIT.value,
        output=Path(OUTPUT.value),
    )
    run(config)


if __name__ == "__main__":
    app.run(main)
