"""Subprocess body of tests/losses/test_memory.py: extra resident memory of one
forward + backward pass of each triplet loss at FaceNet's batch size.

Usage: ``python -m tests.losses.memory_worker BATCH DIM``. Prints ``RESULT <json>`` with,
per loss, the peak resident memory above the resident memory before the first pass, in
bytes. The peak (VmHWM) is reset through /proc/self/clear_refs where the kernel allows;
otherwise the whole-process peak is used, which can only overstate.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from facenet_tf import losses  # noqa: E402


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _forward_backward_tensors(fn, labels, embeddings) -> tuple[tf.Tensor, tf.Tensor]:
    with tf.GradientTape() as tape:
        tape.watch(embeddings)
        loss = fn(labels, embeddings)
    return loss, tf.reduce_sum(tape.gradient(loss, embeddings))


def _forward_backward(fn, labels, embeddings) -> float:
    return float(sum(_forward_backward_tensors(fn, labels, embeddings)))


def main(batch: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    per_id = 40  # the paper's ~40 faces per identity
    labels = tf.constant(np.arange(batch) // per_id, tf.int32)
    x = rng.normal(size=(batch, dim)).astype(np.float32)
    embeddings = tf.constant(x / np.linalg.norm(x, axis=1, keepdims=True))
    fns = {
        "semihard": losses.triplet_semihard_loss,
        "batch_hard": losses.triplet_batch_hard_loss,
        "batch_all": losses.triplet_batch_all_loss,
    }
    # Eagerly (every intermediate of the tape alive at once) and as a tf.function (what a
    # training step runs), each traced and warmed up on a small batch first.
    runs = {}
    for name, fn in fns.items():
        graph = tf.function(lambda y, e, fn=fn: _forward_backward_tensors(fn, y, e))
        runs[f"{name}/eager"] = lambda y, e, fn=fn: _forward_backward(fn, y, e)
        runs[f"{name}/function"] = lambda y, e, graph=graph: float(sum(graph(y, e)))
    for run in runs.values():
        run(labels[:64], embeddings[:64])
    baseline = _status_bytes("VmRSS")
    reset = _reset_peak()
    extra = {}
    for name, run in runs.items():
        run(labels, embeddings)
        # Cumulative: memory kept by an earlier run counts against the later ones.
        extra[name] = _status_bytes("VmHWM") - baseline
    print("RESULT " + json.dumps({"extra_bytes": extra, "peak_reset": reset}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
