"""Fixtures shared by the training tests: synthetic faces, a tiny model, a reference run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from facenet_tf.train import train_lib
from facenet_tf.train.config import TrainConfig
from tests.data.synthetic import write_face_tree, write_lfw_tree
from tests.train.tiny import TINY_SIZE, tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = REPO_ROOT / "tests" / "train" / "train_worker.py"
# Generous: the machine's 2 cores are shared; a healthy run takes a fraction of this.
SUBPROCESS_TIMEOUT = 300


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict:
    """A colour-coded face tree, an LFW-style pair set and a seeded tiny ``.keras`` model."""
    root = tmp_path_factory.mktemp("train_assets")
    write_face_tree(root / "faces", size=(TINY_SIZE + 4, TINY_SIZE + 4))
    pairs = write_lfw_tree(root / "lfw", ["Ann_A", "Bob_B", "Cid_C", "Dee_D"])
    keras.utils.set_random_seed(0)
    tiny_model().save(root / "tiny.keras")
    return {"root": root, "faces": root / "faces", "pairs": pairs, "model": root / "tiny.keras"}


def base_config(assets: dict, workdir: Path, **overrides) -> dict:
    """The config shared by reference, resumed and distributed runs (as plain values)."""
    values = dict(
        model=str(assets["model"]),
        data_dir=(str(assets["faces"]),),
        workdir=str(workdir),
        identities_per_batch=4,
        images_per_identity=3,
        train_steps=24,
        log_every=4,
        checkpoint_every=4,
        val_every=0,
        progress=False,
        export_saved_model=False,
        augment={"brightness_delta": 8.0},
        seed=1,
    )
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def reference(assets, tmp_path_factory):
    """An uninterrupted single-device run of ``base_config``, with exports and validation."""
    workdir = tmp_path_factory.mktemp("reference")
    config = TrainConfig(
        **base_config(
            assets,
            workdir,
            export_saved_model=True,
            val_every=12,
            val_pairs=str(assets["pairs"]),
            val_images_dir=str(assets["pairs"].parent),
        )
    )
    result = train_lib.run(config)
    weights = result.model.get_weights()
    return {"result": result, "workdir": workdir, "weights": weights, "config": config}


@pytest.fixture(scope="session")
def short_reference(assets, tmp_path_factory):
    """Single-device weights after ``SHORT_STEPS`` steps, to compare distributed runs with.

    Summing gradients over replicas rounds differently from one big batch (~1e-7), and
    semi-hard mining turns such differences into different choices after a few dozen
    steps, so distributed runs are compared over a short run.
    """
    workdir = tmp_path_factory.mktemp("short_reference")
    result = train_lib.run(TrainConfig(**short_config(assets, workdir)))
    return result.model.get_weights()


SHORT_STEPS = 8


def short_config(assets: dict, workdir: Path, **overrides) -> dict:
    return base_config(assets, workdir, train_steps=SHORT_STEPS, **overrides)


def subprocess_env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run_worker(config: dict, out: Path, cpus: int = 0, env: dict | None = None):
    """Starts ``train_worker.py`` on ``config``; returns the Popen."""
    args = [sys.executable, str(WORKER), json.dumps(config), str(out)]
    if cpus:
        args.append(str(cpus))
    return subprocess.Popen(
        args,
        env=env or subprocess_env(),
        cwd=str(REPO_ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> str:
    """Waits (bounded) for ``proc``; fails the test with its output if it did not succeed."""
    try:
        output, _ = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"worker timed out after {SUBPROCESS_TIMEOUT}s:\n{output[-3000:]}")
    if proc.returncode != 0:
        pytest.fail(f"worker exited with {proc.returncode}:\n{output[-3000:]}")
    return output


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files) - 2)]


def assert_same_weights(a, b, atol: float = 1e-6) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)
