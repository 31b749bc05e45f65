"""Global-batch mining under tf.distribute equals single-device training on the whole batch.

The strategies run in fresh processes (tests/losses/distributed_worker.py): logical CPU
devices must be configured before TensorFlow starts, and MultiWorkerMirroredStrategy needs
one process per worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import replica_triplet_loss, triplet_semihard_loss
from tests.conftest import REPO_ROOT
from tests.losses._batches import random_batch

TIMEOUT_S = 300  # generous: the machine running the tests may be shared and loaded


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _command(mode: str) -> list[str]:
    return [sys.executable, "-m", "tests.losses.distributed_worker", mode]


def _parse(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _check(results: dict, num_replicas: int) -> None:
    gather = results.pop("gather")  # every replica sees the global batch, in replica order
    assert gather == {"features_diff": 0.0, "labels_equal": True}
    assert set(results) == {"semihard", "batch_hard_soft", "batch_all"}
    for name, r in results.items():
        assert r["num_replicas"] == num_replicas, name
        # Loss: SUM over replicas == single-device loss on the concatenated batch.
        np.testing.assert_allclose(r["loss"], r["single_loss"], rtol=1e-5, err_msg=name)
        # Gradients: SUM over replicas == single-device gradient (not 1/R of it).
        assert r["grad_max"] > 1e-2, name
        assert r["grad_diff"] <= 1e-5 * r["grad_max"] + 1e-7, (name, r)
        # One SGD(1.0) apply_gradients step lands on the single-device weights.
        assert r["weight_diff"] <= 1e-6, (name, r)


def test_mirrored_strategy_on_two_logical_cpus():
    proc = subprocess.run(
        _command("mirrored"),
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    _check(_parse(proc.stdout), num_replicas=2)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers() -> list[tuple[int, str]]:
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = [
        subprocess.Popen(
            _command("multiworker"),
            cwd=REPO_ROOT,
            env=_env(
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            outputs.append((proc.returncode, out))
    finally:
        for proc in procs:  # a hung or failed peer must not outlive the test
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return outputs


@pytest.mark.multiprocess
def test_multi_worker_mirrored_strategy_two_local_processes():
    outputs = _run_workers()
    if any(rc != 0 and "already in use" in out for rc, out in outputs):
        outputs = _run_workers()  # lost a race for a free port; once more with new ones
    for rc, out in outputs:
        assert rc == 0, out[-4000:]
        _check(_parse(out), num_replicas=2)


def test_single_replica_is_the_plain_loss():
    labels, x = random_batch(31, 12, 4, 3)
    want = triplet_semihard_loss(labels, x, margin=0.4).numpy()
    got = replica_triplet_loss(triplet_semihard_loss, labels, x, margin=0.4)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    per_replica = strategy.run(
        lambda: replica_triplet_loss(triplet_semihard_loss, labels, x, margin=0.4)
    )
    np.testing.assert_allclose(strategy.reduce("SUM", per_replica, None).numpy(), want, rtol=1e-6)


def test_cross_replica_context_is_refused():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    labels, x = random_batch(32, 4, 3, 2)
    with strategy.scope(), pytest.raises(InvalidInputError, match="replica context"):
        replica_triplet_loss(triplet_semihard_loss, labels, x)
