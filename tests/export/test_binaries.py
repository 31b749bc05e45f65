"""The libraries behind the binaries, end to end from a ``.keras`` file, and the absl
binaries themselves in a subprocess (slow: each starts TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.export import litert, saved_model, sidecar, tflite
from tests.conftest import REPO_ROOT
from tests.export.conftest import TINY_TEMPLATE, build_tiny_model, cosine_rows


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    build_tiny_model().save(path)
    return path


def test_tflite_run_int8_from_keras_file(keras_file, celeba_paths, eval_faces, tmp_path):
    directory = celeba_paths[0].parents[1]
    config = tflite.TFLiteConfig(
        model=str(keras_file),
        quantization="int8",
        output=str(tmp_path / "tiny_int8.tflite"),
        representative_dir=str(directory),
        num_calibration=48,
        template=TINY_TEMPLATE,
    )
    result = tflite.run(config)
    contract = sidecar.read_sidecar(result["sidecar"])
    assert contract["variant"] == "int8" and contract["input"]["dtype"] == "uint8"
    embedder = litert.LiteRTEmbedder(result["model"])
    expected = build_tiny_model()(eval_faces.astype(np.float32)).numpy()
    assert cosine_rows(embedder.embed(eval_faces), expected).min() >= 0.99
    with pytest.raises(Exception, match="--overwrite"):
        tflite.TFLiteConfig(model=str(keras_file), quantization="float32", output=result["model"])


def test_saved_model_run_from_keras_file(keras_file, tmp_path):
    config = saved_model.SavedModelConfig(model=str(keras_file), output=str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(saved_model.run(config)))
    pixels = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    out = loaded.signatures["embed"](images=tf.constant(pixels))["embeddings"].numpy()
    expected = build_tiny_model()(pixels.astype(np.float32)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_tflite_binary(keras_file, tmp_path):
    out = tmp_path / "tiny_f16.tflite"
    proc = _run(
        ["export.tflite", f"--model={keras_file}", "--quantization=float16", f"--output={out}"]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sidecar.read_sidecar(out.with_suffix(".json"))["variant"] == "float16"


@pytest.mark.slow
def test_tflite_binary_int8_without_representative_dir_fails_clearly(keras_file, tmp_path):
    proc = _run(["export.tflite", f"--model={keras_file}", "--quantization=int8",
                 f"--output={tmp_path / 'x.tflite'}"])  # fmt: skip
    assert proc.returncode != 0
    assert "--representative_dir" in proc.stderr


@pytest.mark.slow
def test_saved_model_binary(keras_file, tmp_path):
    out = tmp_path / "sm"
    proc = _run(["export.saved_model", f"--model={keras_file}", f"--output={out}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(tf.saved_model.load(str(out)).signatures) == set(saved_model.SIGNATURES)
