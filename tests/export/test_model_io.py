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


def _prelu_model(alpha: np.ndarray) -> keras.Model:
    inputs = keras.Input((6, 6, 3), name="pixels")
    x = keras.layers.Conv2D(alpha.size, 3, padding="same", name="conv")(inputs)
    x = keras.layers.PReLU(shared_axes=[1, 2], name="act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.UnitNormalization(name="embedding_l2")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("act").set_weights([alpha.reshape(1, 1, -1)])
    return model


def test_max_form_prelu_is_the_same_function_bit_for_bit():
    alpha = np.linspace(-0.5, 1.0, 8).astype(np.float32)  # negative slopes and 1 included
    model = _prelu_model(alpha)
    x = np.random.default_rng(3).normal(0, 50, (5, 6, 6, 3)).astype(np.float32)
    rewritten = model_io.max_form_prelu(model)
    assert isinstance(rewritten.get_layer("act"), model_io.MaxFormPReLU)
    assert rewritten.get_layer("conv") is model.get_layer("conv")  # shared, not copied
    conv = keras.ops.convert_to_numpy(model.get_layer("conv")(x))
    reference = np.where(conv > 0, conv, alpha * conv)  # PReLU, numpy
    act = keras.Model(rewritten.inputs[0], rewritten.get_layer("act").output)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(act(x)), reference)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model_io.litert_forward(model)(x)),
        keras.ops.convert_to_numpy(model(x)),
    )


def test_prelu_with_a_slope_above_one_is_kept():
    model = _prelu_model(np.array([0.25, 1.5], np.float32))
    assert model_io.max_form_prelu(model) is model


def test_int8_prelu_runs_as_maximum(calibration_faces):
    from facenet_tf.export import litert, tflite

    model = _prelu_model(np.linspace(0.1, 0.4, 8).astype(np.float32))
    info = model_io.describe(model)
    pixels = calibration_faces[:16, :6, :6]
    flatbuffer = tflite.convert(info, "int8", np.ascontiguousarray(pixels))
    ops = [op["op"] for op in litert.op_report(flatbuffer)]
    assert "PRELU" not in ops and "MAXIMUM" in ops
