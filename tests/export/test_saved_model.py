"""SavedModel signatures, run through tf.saved_model.load, against the Keras forward pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import codes, saved_model


@pytest.fixture(scope="module")
def exported(tiny_info, tmp_path_factory):
    path = saved_model.export_saved_model(tiny_info, tmp_path_factory.mktemp("sm") / "model")
    return path, tf.saved_model.load(str(path))


def _pixels(tiny_info, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *tiny_info.input_size, 3), dtype=np.uint8)


def test_signatures_present_with_uint8_input(exported, tiny_info):
    _, loaded = exported
    assert set(loaded.signatures) == set(saved_model.SIGNATURES)
    for name in saved_model.SIGNATURES:
        spec = loaded.signatures[name].structured_input_signature[1]["images"]
        assert spec.dtype == tf.uint8
        assert spec.shape.as_list() == [None, *tiny_info.input_size, 3]


def test_embed_matches_keras_forward(exported, tiny_info):
    _, loaded = exported
    pixels = _pixels(tiny_info)
    out = loaded.signatures["embed"](images=tf.constant(pixels))["embeddings"].numpy()
    expected = tiny_info.model(pixels.astype(np.float32)).numpy()
    assert out.dtype == np.float32 and out.shape == (6, tiny_info.embedding_dim)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    default = loaded.signatures["serving_default"](images=tf.constant(pixels))["embeddings"]
    np.testing.assert_array_equal(default.numpy(), out)


def test_embed_on_real_faces(exported, tiny_info, eval_faces):
    _, loaded = exported
    out = loaded.signatures["embed"](images=tf.constant(eval_faces))["embeddings"].numpy()
    expected = tiny_info.model(eval_faces.astype(np.float32)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_embed_quantized_codes_decode_within_half_step(exported, tiny_info):
    _, loaded = exported
    pixels = _pixels(tiny_info, seed=1)
    got = loaded.signatures["embed_quantized"](images=tf.constant(pixels))["codes"].numpy()
    assert got.dtype == np.int8 and got.shape == (6, tiny_info.embedding_dim)
    expected = tiny_info.model(pixels.astype(np.float32)).numpy()
    # The documented formula written out in numpy: D = 16 gives range 1, scale 127.
    assert tiny_info.embedding_dim == 16
    reference = np.round(np.clip(expected, -1, 1) * 127).astype(np.int8)
    assert np.abs(got.astype(int) - reference.astype(int)).max() <= 1  # float ties only
    assert np.abs(codes.dequantize(got) - expected).max() <= 0.5 / 127 + 1e-5


def test_contract_file(exported, tiny_info):
    path, _ = exported
    contract = json.loads((path / saved_model.CONTRACT_FILE).read_text())
    assert contract["input_size"] == list(tiny_info.input_size)
    assert contract["signatures"]["embed_quantized"]["code_scale"] == 127.0  # D = 16
    assert contract["pixel_normalization"]["mean"] == tiny_info.pixel_mean


def test_config_validation(tmp_path):
    with pytest.raises(InvalidInputError, match="--model"):
        saved_model.SavedModelConfig(model="", output=str(tmp_path / "x"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not empty"):
        saved_model.SavedModelConfig(model="nn4", output=str(tmp_path / "full"))
    saved_model.SavedModelConfig(model="nn4", output=str(tmp_path / "full"), overwrite=True)
