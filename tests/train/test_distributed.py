"""Runs in fresh processes: MirroredStrategy on 2 logical CPUs, 2 local workers, kill -9.

Each compares final weights with an in-process single-device run: the P x K batch of
step s is the same global batch however it is split over replicas, the loss is mined
over the gathered global batch and gradients are summed, so distributed training equals
single-device training up to float rounding (compared over a short run, see
``short_reference``). The killed-and-resumed run uses the same single-device arithmetic
as its reference, so it must match over the full run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.train.conftest import (
    REPO_ROOT,
    SUBPROCESS_TIMEOUT,
    assert_same_weights,
    base_config,
    finish,
    load_weights,
    run_worker,
    short_config,
    subprocess_env,
)

pytestmark = pytest.mark.multiprocess


# Distributed and single-device weights after SHORT_STEPS steps differ only by float32
# summation order: the replicas' gradient sums differ by ~1e-7 relative (seen up to
# 1.3e-5 absolute in the weights on AVX-512 with oneDNN on, 0 to 1e-5 elsewhere), and
# AdaGrad turns a gradient difference dg into an update difference of at most
# lr * dg / sqrt(initial accumulator 0.1) = 0.16 dg per step. A real fault (a replica's
# loss not divided by the replica count, a missing all-gather) doubles or drops whole
# updates of order lr = 0.05. 1e-4 sits between the two, on any CPU.
WEIGHT_ATOL = 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mirrored_on_two_logical_cpus_equals_single_device(assets, short_reference, tmp_path):
    config = short_config(assets, tmp_path / "w", strategy="mirrored", devices=["/cpu:0", "/cpu:1"])
    finish(run_worker(config, tmp_path / "out.npz", cpus=2))
    assert_same_weights(load_weights(tmp_path / "out.npz"), short_reference, atol=WEIGHT_ATOL)


def test_two_local_workers_end_with_identical_weights(assets, short_reference, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    config = short_config(assets, tmp_path / "w", strategy="multi_worker")
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        env = subprocess_env(TF_CONFIG=tf_config)
        procs.append(run_worker(config, tmp_path / f"w{i}.npz", env=env))
    try:
        for proc in procs:
            finish(proc)
    finally:
        for proc in procs:  # never leave a worker waiting for its peer
            if proc.poll() is None:
                proc.kill()
    w0, w1 = load_weights(tmp_path / "w0.npz"), load_weights(tmp_path / "w1.npz")
    assert_same_weights(w0, w1, atol=0.0)
    assert_same_weights(w0, short_reference, atol=WEIGHT_ATOL)
    # Only the chief keeps checkpoints and the final model; worker scratch is removed.
    assert (tmp_path / "w" / "model.keras").exists()
    assert not list((tmp_path / "w").glob("workers/*"))


def _flag_lines(config: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in config.items():
        name = prefix + key
        if isinstance(value, dict):  # a nested config: --augment.flip
            lines.extend(_flag_lines(value, f"{name}."))
        elif isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, list | tuple):
            lines.append(f"--{name}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{name}={value}")
    return lines


def _flagfile(config: dict, path) -> str:
    path.write_text("\n".join(_flag_lines(config)) + "\n")
    return str(path)


def test_kill_9_then_rerun_ends_with_the_uninterrupted_weights(assets, reference, tmp_path):
    workdir = tmp_path / "w"
    config = base_config(assets, workdir)
    cmd = [
        sys.executable,
        "-m",
        "facenet_tf.train.train",
        f"--flagfile={_flagfile(config, tmp_path / 'run.flags')}",
    ]
    kwargs = dict(env=subprocess_env(), cwd=str(REPO_ROOT), text=True)
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    state = workdir / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while not state.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    # Somewhere after the first checkpoint: mid-step, mid-save or mid-log.
    time.sleep(random.uniform(0.0, 0.05))
    os.kill(first.pid, signal.SIGKILL)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL, f"not killed mid-run:\n{output[-3000:]}"
    killed_at = [int(p.name[5:-6]) for p in (workdir / "checkpoints").glob("ckpt-*.index")]
    assert killed_at and max(killed_at) < config["train_steps"]

    second = subprocess.run(cmd, capture_output=True, timeout=SUBPROCESS_TIMEOUT, **kwargs)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from" in second.stderr
    import keras

    final = keras.models.load_model(workdir / "model.keras").get_weights()
    assert_same_weights(final, reference["weights"], atol=1e-5)
    steps = [json.loads(x)["step"] for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == config["train_steps"]
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["augment"]["brightness_delta"] == config["augment"]["brightness_delta"]
