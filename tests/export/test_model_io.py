"""The exported forward pass equals the Keras model; metadata comes from the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import model_io
from facenet_tf.models.spec import model_spec
from tests.export.conftest import (
    TINY_MEAN,
    TINY_SCALE,
    build_tiny_model,
    registered_export_model,
)


def test_l2_normalize_fusable_matches_numpy_and_keras():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 7)).astype(np.float32) * rng.uniform(0.01, 100, (10, 1)).astype(
        np.float32
    )
    expected = x / np.linalg.norm(x, axis=1, keepdims=True)
    got = keras.ops.convert_to_numpy(model_io.l2_normalize_fusable(x))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    keras_out = keras.ops.convert_to_numpy(keras.layers.UnitNormalization()(x))
    np.testing.assert_allclose(got, keras_out, rtol=1e-6, atol=1e-7)


def test_l2_normalize_fusable_zero_row_stays_finite():
    out = keras.ops.convert_to_numpy(model_io.l2_normalize_fusable(np.zeros((1, 4), np.float32)))
    np.testing.assert_array_equal(out, np.zeros((1, 4)))


def test_litert_forward_equals_model(tiny_info):
    rng = np.random.default_rng(1)
    pixels = rng.uniform(0, 255, (4, *tiny_info.input_size, 3)).astype(np.float32)
    forward = model_io.litert_forward(tiny_info.model)
    got = keras.ops.convert_to_numpy(forward(pixels))
    np.testing.assert_allclose(got, tiny_info.model(pixels).numpy(), rtol=1e-5, atol=1e-6)


def test_describe_reads_model_metadata(tiny_info):
    assert tiny_info.input_size == (40, 40)
    assert tiny_info.embedding_dim == 16
    assert tiny_info.pixel_mean == pytest.approx(list(TINY_MEAN))
    assert tiny_info.pixel_scale == pytest.approx([TINY_SCALE] * 3)
    assert tiny_info.align_template is None  # not registered


def test_describe_rejects_free_spatial_input():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    with pytest.raises(InvalidInputError, match="fixed input shape"):
        model_io.describe(keras.Model(inputs, x))


def test_describe_registered_model():
    import facenet_tf

    if "dlib_resnet_v1" not in facenet_tf.list_models():
        pytest.skip("dlib_resnet_v1 is not registered")
    info = registered_export_model("dlib_resnet_v1")
    # dlib's own constants (shared/DLIB_FORMAT.md): 150x150 chips, (pixel - mean) / 256.
    assert info.input_size == (150, 150)
    assert info.align_template == "dlib_150"
    assert info.embedding_dim == 128
    assert info.spec == model_spec("dlib_resnet_v1")  # the registry's spec, not re-derived
    assert info.pixel_mean == pytest.approx([122.782, 117.001, 104.298])
    assert info.pixel_scale == pytest.approx([1 / 256] * 3)


def test_build_tiny_model_is_deterministic():
    a, b = build_tiny_model(seed=3), build_tiny_model(seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
