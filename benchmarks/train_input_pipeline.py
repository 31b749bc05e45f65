r"""Does the input pipeline keep up with training? Images/s of each alone, and the ratio.

* pipeline alone: the P x K folder-tree dataset (read, decode, face-box crop, random
  crop, flip, brightness, contrast, JPEG re-encoding) iterated without a model;
* training step alone: the training loop of ``facenet_tf.train.train_lib`` fed one
  cached batch over and over, so no input work happens while it is timed.

The pipeline keeps up when its rate is above the step's (ratio > 1). Both share the same
CPU cores here, so in a real run they also compete for them.

Example:
  nice -n 10 python benchmarks/train_input_pipeline.py --model=nn4
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
CELEBA_BOX = (0.3257, 0.191, 0.8303, 0.809)  # see benchmarks/train_celeba.py

_MODEL = flags.DEFINE_string("model", "nn4", "Registry model.")
_P = flags.DEFINE_integer("identities_per_batch", 16, "P.")
_K = flags.DEFINE_integer("images_per_identity", 4, "K.")
_PIPELINE_BATCHES = flags.DEFINE_integer("pipeline_batches", 30, "Timed pipeline batches.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed training steps.")
_RESULTS = flags.DEFINE_string("results", "", "JSON output (default benchmarks/results/).")


def main(argv: list[str]) -> None:
    del argv
    import tensorflow as tf

    from facenet_tf.data import AugmentConfig, augment_op, folder_pk_dataset, scan_folder_tree
    from facenet_tf.models.registry import get_model_info
    from facenet_tf.train import schedules, train_lib
    from facenet_tf.train.config import TrainConfig

    dirs = [str(DATA / "celeba" / "aligned_178x218"), str(DATA / "celeba" / "aligned_89x109")]
    size = get_model_info(_MODEL.value).input_size
    p, k = _P.value, _K.value
    augment = augment_op(AugmentConfig(size, box=CELEBA_BOX, jpeg_prob=0.2), training=True)
    index = scan_folder_tree(dirs)

    ds = folder_pk_dataset(index, augment, p, k, seed=0)
    it = iter(ds)
    next(it)  # warm-up: tracing and the first prefetch
    t = time.perf_counter()
    for _ in range(_PIPELINE_BATCHES.value):
        next(it)
    pipeline_ips = _PIPELINE_BATCHES.value * p * k / (time.perf_counter() - t)

    config = TrainConfig(
        model=_MODEL.value, data_dir=tuple(dirs), workdir="/tmp/unused",
        identities_per_batch=p, images_per_identity=k, progress=False,
    )  # fmt: skip
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = train_lib.build_model(config)
        optimizer = schedules.build_optimizer(config)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
        trainer = train_lib.Trainer(config, strategy, model, optimizer, step)
    cached = folder_pk_dataset(index, augment, p, k, seed=0, num_steps=1).cache().repeat()
    train_it = iter(strategy.distribute_datasets_from_function(lambda ctx: cached))
    trainer.train_loop(train_it)  # warm-up: tracing
    t = time.perf_counter()
    for _ in range(_STEPS.value):
        float(trainer.train_loop(train_it)["loss"])
    step_ips = _STEPS.value * p * k / (time.perf_counter() - t)

    figures = {
        "model": _MODEL.value,
        "input_size": list(size),
        "batch": f"{p} x {k}",
        "pipeline_images_per_sec": round(pipeline_ips, 1),
        "train_step_images_per_sec": round(step_ips, 2),
        "ratio_pipeline_over_step": round(pipeline_ips / step_ips, 1),
        "cpu_cores": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(figures, indent=1))
    out = _RESULTS.value or str(
        REPO / "benchmarks" / "results" / f"train_input_pipeline_{_MODEL.value}.json"
    )
    Path(out).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    app.run(main)
