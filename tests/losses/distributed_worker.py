"""Subprocess body of tests/losses/test_distributed.py (not a test module itself).

Usage: ``python -m tests.losses.distributed_worker mirrored|multiworker``. Under
``multiworker`` TF_CONFIG must describe the cluster. Prints one line
``RESULT <json>``: per loss, the SUM-reduced distributed loss, the single-device loss on
the concatenated batch, the largest gradient difference, the largest gradient, and the
largest difference between weights after one SGD(1.0) ``apply_gradients`` step and the
single-device step.

Data reach the replicas through ``strategy.distribute_datasets_from_function``: dataset
elements are exactly the tensors that hit the "destinations can not be empty" trap of
``ReplicaContext.all_gather`` under MultiWorkerMirroredStrategy.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Replica batch sizes deliberately uneven; 20 rows, 4 identities, 5 input features.
SIZES = (12, 8)
GLOBAL = 20
FEATURES = 5


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(GLOBAL, FEATURES)).astype(np.float32)
    y = rng.integers(0, 4, GLOBAL).astype(np.int32)
    return x, y


def _strategy(mode: str) -> tf.distribute.Strategy:
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return tf.distribute.MultiWorkerMirroredStrategy()


def main(mode: str) -> None:
    strategy = _strategy(mode)
    # Imported only now: logical devices must be configured before anything else touches
    # the TensorFlow runtime.
    import keras

    from facenet_tf import losses

    x, y = _data()
    starts = np.cumsum((0,) + SIZES)

    def rows(r: int) -> tuple[np.ndarray, np.ndarray]:
        return x[starts[r] : starts[r + 1]], y[starts[r] : starts[r + 1]]

    if mode == "multiworker":
        # One replica per worker, one input pipeline per worker: pipeline r feeds replica r.
        inputs = next(
            iter(
                strategy.distribute_datasets_from_function(
                    lambda ctx: tf.data.Dataset.from_tensors(rows(ctx.input_pipeline_id)).repeat()
                )
            )
        )
    else:
        inputs = strategy.experimental_distribute_values_from_function(
            lambda ctx: rows(ctx.replica_id_in_sync_group)
        )

    init = np.random.default_rng(2).normal(size=(FEATURES, 4)).astype(np.float32)
    results = {}
    cases = {
        "semihard": (losses.triplet_semihard_loss, {"margin": 0.3}),
        "batch_hard_soft": (losses.triplet_batch_hard_loss, {"soft": True, "distance": "l2"}),
        "batch_all": (losses.triplet_batch_all_loss, {"margin": 0.5, "distance": "angular"}),
    }
    for name, (loss_fn, kwargs) in cases.items():
        with strategy.scope():
            dense = keras.layers.Dense(4, use_bias=False)
            dense.build((None, FEATURES))
            dense.kernel.assign(init)
            optimizer = keras.optimizers.SGD(1.0)
            optimizer.build(dense.trainable_variables)  # before strategy.run (Keras 3)

        def embed(features):
            return tf.math.l2_normalize(dense(features), axis=1)

        @tf.function
        def step(batch):
            def replica_fn(features, labels):
                with tf.GradientTape() as tape:
                    loss = losses.replica_triplet_loss(
                        loss_fn,  # noqa: B023
                        labels,
                        embed(features),
                        **kwargs,  # noqa: B023
                    )
                grads = tape.gradient(loss, dense.trainable_variables)
                optimizer.apply_gradients(zip(grads, dense.trainable_variables))  # noqa: B023
                return loss, grads[0]

            loss, grad = strategy.run(replica_fn, args=batch)
            return (
                strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, grad, axis=None),
            )

        with tf.GradientTape() as tape:
            tape.watch(dense.kernel.value)
            single = loss_fn(y, tf.math.l2_normalize(tf.matmul(x, dense.kernel.value), 1), **kwargs)
        single_grad = tape.gradient(single, dense.kernel.value).numpy()
        dist_loss, dist_grad = step(inputs)
        weights_after = dense.kernel.numpy()
        results[name] = {
            "loss": float(dist_loss),
            "single_loss": float(single),
            "grad_diff": float(np.abs(dist_grad.numpy() - single_grad).max()),
            "grad_max": float(np.abs(single_grad).max()),
            "weight_diff": float(np.abs(weights_after - (init - single_grad)).max()),
            "num_replicas": strategy.num_replicas_in_sync,
        }
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
