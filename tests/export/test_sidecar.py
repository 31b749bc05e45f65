"""The sidecar states exactly what the interpreter's tensors are, and an app following
only the sidecar gets the Keras embeddings."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from facenet_tf.export import litert, sidecar, tflite
from tests.export.conftest import TINY_MEAN, TINY_SCALE, build_tiny_model, cosine_rows


@pytest.fixture(scope="module")
def written(tiny_info, calibration_faces, tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("tflite")
    for q in ("float32", "int8"):
        flatbuffer = tflite.convert(tiny_info, q, calibration_faces if q == "int8" else None)
        out[q] = tflite.write_with_sidecar(flatbuffer, folder / f"tiny_{q}.tflite", tiny_info, q)
    return out


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_sidecar_matches_interpreter_tensors(written, quantization):
    model_path, sidecar_path = written[quantization]
    assert sidecar_path == model_path.with_suffix(".json")
    contract = sidecar.read_sidecar(sidecar_path)
    interpreter = litert.make_interpreter(model_path)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert contract["input"]["shape"] == inp["shape"].tolist()
    assert contract["input"]["dtype"] == np.dtype(inp["dtype"]).name == "uint8"
    assert contract["output"]["shape"] == out["shape"].tolist()
    assert contract["output"]["dtype"] == np.dtype(out["dtype"]).name
    for side, detail in ((contract["input"], inp), (contract["output"], out)):
        scale, zero_point = detail["quantization"]
        if scale == 0.0:
            assert side["quantization"] is None
        else:
            assert side["quantization"] == {"scale": scale, "zero_point": zero_point}
    assert contract["signatures"] == interpreter.get_signature_list()
    assert contract["sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert contract["file"] == model_path.name


def test_sidecar_hand_checked_fields(written):
    contract = sidecar.read_sidecar(written["int8"][1])
    assert contract["variant"] == "int8"
    assert contract["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert contract["input"]["feed"].startswith("raw RGB pixels 0..255")
    assert contract["output"]["quantization"] == {"scale": 0.0078125, "zero_point": 0}
    assert contract["pixel_normalization"]["mean"] == pytest.approx(list(TINY_MEAN))
    assert contract["pixel_normalization"]["scale"] == pytest.approx([TINY_SCALE] * 3)
    assert contract["alignment"]["crop_size"] == [40, 40]
    # Not measured here: null with a note, never a made-up number.
    assert contract["verification"]["threshold"] is None
    assert "DevTrain" in contract["verification"]["note"]


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_app_following_the_sidecar_gets_keras_embeddings(written, eval_faces, quantization):
    """Quantise input and dequantise output with nothing but the sidecar's numbers."""
    from ai_edge_litert.interpreter import Interpreter

    model_path, sidecar_path = written[quantization]
    contract = sidecar.read_sidecar(sidecar_path)
    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_index = interpreter.get_output_details()[0]["index"]
    rows = []
    for face in eval_faces[:16]:
        interpreter.set_tensor(in_index, face[None].astype(contract["input"]["dtype"]))
        interpreter.invoke()
        raw = interpreter.get_tensor(out_index)[0].astype(np.float32)
        q = contract["output"]["quantization"]
        rows.append(raw if q is None else q["scale"] * (raw - q["zero_point"]))
    expected = build_tiny_model()(eval_faces[:16].astype(np.float32)).numpy()
    assert cosine_rows(np.stack(rows), expected).min() >= 0.99


def test_threshold_recorded(tiny_info, tmp_path):
    flatbuffer = tflite.convert(tiny_info, "float32")
    _, path = tflite.write_with_sidecar(
        flatbuffer, tmp_path / "m.tflite", tiny_info, "float32", threshold=1.05, threshold_note="n"
    )
    verification = sidecar.read_sidecar(path)["verification"]
    assert verification["threshold"] == 1.05
    assert "never used" in verification["source"]


def test_embedding_space_declares_the_reference_model():
    # Golden: the cross-model DevTrain threshold recorded in thresholds.json (0.1993).
    space = sidecar.embedding_space("mobilefacenet_harmonic_dlib", "dlib_resnet_v1")
    assert space["compatible_with"] == "dlib_resnet_v1"
    assert space["cross_model_threshold"] == pytest.approx(0.1993)
    own = sidecar.embedding_space("dlib_resnet_v1", None)
    assert own["compatible_with"] is None and "dlib_resnet_v1" in own["note"]
