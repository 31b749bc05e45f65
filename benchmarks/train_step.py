"""Training step time of a registry model with fused BatchNormalization and PReLU, beside
Keras's own layers (``--fused_layers`` of the training binary, on and off).

One step is ``facenet_tf.train.train_lib.Trainer``'s: forward, the semi-hard triplet
loss over a P x K batch, backward and an Adam update, on synthetic pixels. The two
trainers are timed round-robin in one process so that load from other jobs falls on
both alike; the median and minimum seconds a step are reported with the machine and
its load average.

Usage (from the repository root):
    python benchmarks/train_step.py                         # mobilefacenet, 16 x 4
    python benchmarks/train_step.py --model=nn4 --batch=16x4 --repeats=5
Writes --output (JSON) and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_MODEL = flags.DEFINE_string("model", "mobilefacenet", "Registry model.")
_BATCH = flags.DEFINE_string("batch", "16x4", "P x K: identities x images per identity.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps per trainer.")
_WARMUP = flags.DEFINE_integer("warmup", 4, "Untimed steps per trainer first.")
_OUTPUT = flags.DEFINE_string(
    "output", str(REPO / "benchmarks/results/train_step.json"), "JSON result file."
)


def _trainer(model_name: str, fused: bool, batch: tuple[int, int], workdir: str):
    import keras
    import tensorflow as tf

    import facenet_tf
    from facenet_tf.train import schedules
    from facenet_tf.train.config import TrainConfig
    from facenet_tf.train.train_lib import Trainer

    config = TrainConfig(
        model=model_name,
        data_dir=(str(REPO),),  # validated, never read: the batches are synthetic
        workdir=workdir,  # validated, never written
        identities_per_batch=batch[0],
        images_per_identity=batch[1],
        optimizer="adam",
        learning_rate=1e-4,
        fused_layers=fused,
    )
    strategy = tf.distribute.get_strategy()
    keras.utils.set_random_seed(0)
    model = facenet_tf.create_model(model_name)
    optimizer = schedules.build_optimizer(config)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    trainer = Trainer(config, strategy, model, optimizer, step)
    p, k = batch
    size = model.input_shape[1:3]
    images = tf.random.stateless_uniform([p * k, *size, 3], seed=(1, 2), maxval=255.0)
    labels = tf.repeat(tf.range(p, dtype=tf.int64), k)
    data = tf.data.Dataset.from_tensors({"image": images, "label": labels}).repeat()
    iterator = iter(data)
    for _ in range(_WARMUP.value):  # trace, compile and warm up (the fused PReLU's XLA
        trainer.train_loop(iterator)  # loops finish compiling over the first steps)
    return lambda: trainer.train_loop(iterator)["loss"].numpy()


def main(argv):
    del argv
    batch = tuple(int(v) for v in _BATCH.value.lower().split("x"))
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as workdir:
        steps = {
            "fused": _trainer(_MODEL.value, True, batch, workdir),
            "keras": _trainer(_MODEL.value, False, batch, workdir),
        }
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(_REPEATS.value):
            for name, run in steps.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    result = {
        "model": _MODEL.value,
        "batch": list(batch),
        "repeats": _REPEATS.value,
        "fused_median_s": statistics.median(times["fused"]),
        "fused_min_s": min(times["fused"]),
        "keras_median_s": statistics.median(times["keras"]),
        "keras_min_s": min(times["keras"]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": [load_start, os.getloadavg()[0]],
    }
    result["speedup"] = result["keras_median_s"] / result["fused_median_s"]
    Path(_OUTPUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUTPUT.value).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{_MODEL.value}, P x K = {batch[0]} x {batch[1]}, s a step (median / min):")
    print(f"  fused layers  {result['fused_median_s']:.3f} / {result['fused_min_s']:.3f}")
    print(f"  Keras layers  {result['keras_median_s']:.3f} / {result['keras_min_s']:.3f}")
    print(f"  speed-up {result['speedup']:.2f}x; load average {result['load_average']}")


if __name__ == "__main__":
    app.run(main)
