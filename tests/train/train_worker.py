"""Runs ``train_lib.run`` in a fresh process and saves the final weights (test helper).

Usage: python tests/train/train_worker.py CONFIG_JSON OUT_NPZ [NUM_LOGICAL_CPUS]

A fresh process is needed where TensorFlow must be configured before it initialises:
logical CPU devices for MirroredStrategy, TF_CONFIG for MultiWorkerMirroredStrategy.
"""

from __future__ import annotations

import json
import sys


def main(config_json: str, out_npz: str, cpus: int = 0) -> None:
    import numpy as np

    from facenet_tf.train import strategy as strategy_lib

    if cpus:
        strategy_lib.split_cpu(cpus)
    from facenet_tf.train import config as config_lib
    from facenet_tf.train import train_lib

    result = train_lib.run(config_lib.TrainConfig(**json.loads(config_json)))
    weights = result.model.get_weights()
    np.savez(out_npz, *weights, step=result.final_step, start=result.start_step)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
