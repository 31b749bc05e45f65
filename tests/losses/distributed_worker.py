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
    cases = {
        "semihard": (losses.triplet_semihard_loss, {"margin": 0.3}),
        "batch_hard_soft": (losses.triplet_batch_hard_loss, {"soft": True, "distance": "l2"}),
        "batch_all": (losses.triplet_batch_all_loss, {"margin": 0.5, "distance": "angular"}),
    }
    results = {
        name: _run_case(strategy, inputs, x, y, init, loss_fn, kwargs)
        for name, (loss_fn, kwargs) in cases.items()
    }
    results["gather"] = _gather_raw_inputs(strategy, inputs, x, y)
    print("RESULT " + json.dumps(results), flush=True)


def _gather_raw_inputs(strategy, inputs, x, y) -> dict:
    """all_gather_batch straight on the distributed inputs: under MultiWorkerMirrored
    these tensors carry no device, the case where a bare ReplicaContext.all_gather
    raises "destinations can not be empty"."""
    from facenet_tf import losses

    @tf.function
    def gather(batch):
        def replica_fn(features, labels):
            return losses.all_gather_batch(labels, features)[:2]

        return strategy.run(replica_fn, args=batch)

    labels, features = gather(inputs)
    local = strategy.experimental_local_results
    return {
        "features_diff": max(float(np.abs(f.numpy() - x).max()) for f in local(features)),
        "labels_equal": all(bool(np.array_equal(v.numpy(), y)) for v in local(labels)),
    }


def _run_case(strategy, inputs, x, y, init, loss_fn, kwargs) -> dict:
    """One SGD(1.0) step of a Dense(4) -> L2 embedding, distributed and on one device."""
    import keras

    from facenet_tf import losses

    with strategy.scope():
        dense = keras.layers.Dense(4, use_bias=False)
        dense.build((None, FEATURES))
        dense.kernel.assign(init)
        optimizer = keras.optimizers.SGD(1.0)
        optimizer.build(dense.trainable_variables)  # before strategy.run (Keras 3)

    @tf.function
    def step(batch):
        def replica_fn(features, labels):
            with tf.GradientTape() as tape:
                embeddings = tf.math.l2_normalize(dense(features), axis=1)
                loss = losses.replica_triplet_loss(loss_fn, labels, embeddings, **kwargs)
            grads = tape.gradient(loss, dense.trainable_variables)
            optimizer.apply_gradients(zip(grads, dense.trainable_variables, strict=True))
            return loss, grads[0]

        loss, grad = strategy.run(replica_fn, args=batch)
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, grad, axis=None),
        )

    kernel = tf.constant(init)
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        single = loss_fn(y, tf.math.l2_normalize(tf.matmul(x, kernel), axis=1), **kwargs)
    single_grad = tape.gradient(single, kernel).numpy()
    dist_loss, dist_grad = step(inputs)
    return {
        "loss": float(dist_loss),
        "single_loss": float(single),
        "grad_diff": float(np.abs(dist_grad.numpy() - single_grad).max()),
        "grad_max": float(np.abs(single_grad).max()),
        "weight_diff": float(np.abs(dense.kernel.numpy() - (init - single_grad)).max()),
        "num_replicas": strategy.num_replicas_in_sync,
    }


if __name__ == "__main__":
    main(sys.argv[1])
