"""The evaluation binary end to end on a tiny synthetic LFW tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError, NoFaceError
from facenet_tf.eval import evaluate_lib
from facenet_tf.io.images import read_image

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_IDS, PER_ID = 6, 5


def _make_tree(root: Path) -> tuple[Path, Path, Path, Path]:
    """6 identities x 5 images (a colour per identity + noise), 2 singletons, pair files."""
    rng = np.random.default_rng(0)
    lfw = root / "lfw"
    colours = rng.integers(30, 220, size=(N_IDS + 2, 3))
    names = [f"Person_{chr(65 + i)}" for i in range(N_IDS + 2)]
    for i, name in enumerate(names):
        (lfw / name).mkdir(parents=True)
        for j in range(1, (PER_ID if i < N_IDS else 1) + 1):
            img = np.clip(colours[i] + rng.normal(0, 6, (40, 40, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(lfw / name / f"{name}_{j:04d}.jpg"), img[..., ::-1])
    lines = ["10\t2"]
    for fold in range(10):
        for k in range(2):
            i = (fold + k) % N_IDS
            a, b = rng.choice(np.arange(1, PER_ID + 1), 2, replace=False)
            lines.append(f"{names[i]}\t{a}\t{b}")
        for _ in range(2):
            i, j = rng.choice(N_IDS, 2, replace=False)
            lines.append(f"{names[i]}\t{rng.integers(1, 6)}\t{names[j]}\t{rng.integers(1, 6)}")
    pairs = root / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    dev = root / "dev.txt"
    dev.write_text("2\nPerson_A 1 2\nPerson_B 3 4\nPerson_A 1 Person_B 2\nPerson_C 1 Person_D 1\n")
    return lfw, pairs, dev, dev


class MeanColourEmbed:
    """Mean RGB of the image (separable by construction); with ``nan_for_5``, NaN for the
    images ``_0005`` (an embedding function that found no face there)."""

    def __init__(self, nan_for_5: bool = False):
        self.calls = 0
        self.nan_for_5 = nan_for_5

    def __call__(self, items):
        self.calls += len(items)
        rows = []
        for x in items:
            img = read_image(x).astype(np.float32)
            nan = self.nan_for_5 and str(x).endswith("_0005.jpg")
            rows.append(np.full(3, np.nan) if nan else img.mean((0, 1)) - 128.0)
        return np.asarray(rows, np.float32)


@pytest.fixture
def tree(tmp_path):
    return _make_tree(tmp_path)


def _config(tmp_path, tree, **kw):
    lfw, pairs, dev_train, dev_test = tree
    base = dict(
        model="mean-colour", lfw_dir=str(lfw), pairs=str(pairs),
        workdir=str(tmp_path / "out"), dev_train_pairs=str(dev_train),
        dev_test_pairs=str(dev_test), identification=True, cluster_min_images=3,
        plot_identities=4, progress=False,
    )  # fmt: skip
    base.update(kw)
    return evaluate_lib.EvalConfig(**base)


def test_run_with_injected_embed_fn(tmp_path, tree):
    fn = MeanColourEmbed()
    rep = evaluate_lib.run(_config(tmp_path, tree), embed_fn=fn)
    v = rep["verification"]
    assert v["accuracy_mean"] == 1.0 and v["num_pairs"] == 40 and v["num_folds"] == 10
    assert rep["view1"]["test_accuracy"] == 1.0
    assert rep["no_face"]["count"] == 0 and rep["no_face"]["policy"] == "whole_image"
    assert rep["identification"]["num_distractors"] == 2
    assert rep["identification"]["rank1"] == 1.0
    assert rep["clustering"]["agglomerative_k"]["pairwise_f1"] == 1.0
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["verification"]["accuracy_mean"] == 1.0
    for png in ("roc.png", "clusters.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    # re-run: everything comes from the cache
    fn2 = MeanColourEmbed()
    rep2 = evaluate_lib.run(_config(tmp_path, tree), embed_fn=fn2)
    assert fn2.calls == 0 and rep2["cache"]["misses"] == 0
    assert rep2["verification"] == v and rep2["no_face"] == rep["no_face"]


def test_an_embedding_function_without_a_vector_fails_naming_the_images(tmp_path, tree):
    with pytest.raises(NoFaceError, match="_0005.jpg"):
        evaluate_lib.run(_config(tmp_path, tree), embed_fn=MeanColourEmbed(nan_for_5=True))


def test_config_validation_names_the_field(tmp_path, tree):
    with pytest.raises(InvalidInputError, match="distance"):
        _config(tmp_path, tree, distance="l1").validate()
    with pytest.raises(InvalidInputError, match="lfw_dir"):
        _config(tmp_path, tree, lfw_dir=str(tmp_path / "nope")).validate()
    with pytest.raises(InvalidInputError, match="dev_train_pairs and dev_test_pairs"):
        _config(tmp_path, tree, dev_test_pairs="").validate()
    with pytest.raises(InvalidInputError, match="face"):
        _config(tmp_path, tree, face="biggest").validate()
    with pytest.raises(InvalidInputError, match="on_no_face"):
        _config(tmp_path, tree, on_no_face="center_crop").validate()


def _tiny_keras_model(path: Path) -> None:
    import keras

    from facenet_tf.layers import PixelNormalization

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = PixelNormalization()(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, name="embedding_dense")(x)
    out = keras.layers.UnitNormalization(name="embedding_l2")(x)
    keras.Model(inp, out, name="tiny_eval").save(path)


def test_binary_end_to_end_with_a_keras_model(tmp_path, tree):
    lfw, pairs, dev, _ = tree
    model = tmp_path / "tiny.keras"
    _tiny_keras_model(model)
    out = tmp_path / "binary_out"
    args = [
        sys.executable, "-m", "facenet_tf.eval.evaluate", f"--model={model}", "--aligned",
        f"--lfw_dir={lfw}", f"--pairs={pairs}", f"--workdir={out}", "--identification",
        "--cluster_min_images=3", "--plot_identities=4", "--noprogress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LFW 10-fold accuracy" in proc.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["model_key"].startswith("tiny_eval:")
    assert rep["cache"]["misses"] == len(list(lfw.glob("*/*.jpg")))
    assert 0.0 <= rep["verification"]["accuracy_mean"] <= 1.0
    assert (out / "roc.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "clusters.png").read_bytes()[:8] == PNG_MAGIC
    # the same model and images again (here in-process): all from the cache, same figures
    config = evaluate_lib.EvalConfig(
        model=str(model), lfw_dir=str(lfw), pairs=str(pairs), workdir=str(out),
        aligned=True, identification=True, cluster_min_images=3, plot_identities=4,
        progress=False,
    )  # fmt: skip
    rep2 = evaluate_lib.run(config)
    assert rep2["cache"]["misses"] == 0
    assert rep2["verification"] == rep["verification"]
