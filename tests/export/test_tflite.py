"""Every TFLite variant, fed uint8 pixels through LiteRT as an app does, against Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import litert, model_io, tflite
from tests.export.conftest import build_tiny_model, cosine_rows

# Stated cosine thresholds (min over real faces) per variant, for this small model.
MIN_COSINE = {"float32": 0.99999, "float16": 0.9999, "dynamic": 0.999, "int8": 0.99}


@pytest.fixture(scope="module")
def converted(tiny_info, calibration_faces):
    return {
        q: tflite.convert(tiny_info, q, calibration_faces if q == "int8" else None)
        for q in tflite.QUANTIZATIONS
    }


@pytest.mark.parametrize("quantization", tflite.QUANTIZATIONS)
def test_variant_matches_keras_on_real_faces(converted, tiny_info, eval_faces, quantization):
    embedder = litert.LiteRTEmbedder(converted[quantization])
    assert embedder.input_detail["dtype"] == np.uint8  # the app feeds raw pixels
    assert list(embedder.input_detail["shape"]) == [1, *tiny_info.input_size, 3]
    got = embedder.embed(eval_faces)
    expected = tiny_info.model(eval_faces.astype(np.float32)).numpy()
    cos = cosine_rows(got, expected)
    assert cos.min() >= MIN_COSINE[quantization], (quantization, cos.min())


def test_int8_is_full_integer_with_identity_pixel_input(converted):
    flatbuffer = converted["int8"]
    assert litert.float_ops(flatbuffer) == []
    embedder = litert.LiteRTEmbedder(flatbuffer)
    # Calibration on real photos spans 0..255, so raw pixels go in unchanged.
    assert embedder.input_detail["quantization"] == (1.0, 0)
    # L2_NORMALIZATION's int8 output has the fixed scale 1/128.
    assert embedder.output_detail["dtype"] == np.int8
    assert embedder.output_detail["quantization"] == (1.0 / 128.0, 0)
    ops = {op["op"] for op in litert.op_report(flatbuffer)}
    assert "L2_NORMALIZATION" in ops and "DEQUANTIZE" not in ops


def test_float_variant_reports_float_ops(converted):
    assert litert.float_ops(converted["float32"])


def test_int8_input_type(tiny_info, calibration_faces, eval_faces):
    flatbuffer = tflite.convert(tiny_info, "int8", calibration_faces, input_type="int8")
    embedder = litert.LiteRTEmbedder(flatbuffer)
    assert embedder.input_detail["dtype"] == np.int8
    assert embedder.input_detail["quantization"] == (1.0, -128)
    feed = litert.pixels_to_input(eval_faces[:2], embedder.input_detail)
    np.testing.assert_array_equal(feed.astype(int), eval_faces[:2].astype(int) - 128)
    cos = cosine_rows(embedder.embed(eval_faces), tiny_info.model(eval_faces.astype(np.float32)))
    assert cos.min() >= MIN_COSINE["int8"]


def test_int8_without_representative_faces_fails(tiny_info):
    with pytest.raises(InvalidInputError, match="representative"):
        tflite.convert(tiny_info, "int8", None)
    with pytest.raises(InvalidInputError, match="--representative_dir"):
        tflite.TFLiteConfig(model="nn4", quantization="int8", output="/tmp/x.tflite")


def test_representative_faces_from_a_folder_without_images_fails(tiny_info, tmp_path):
    (tmp_path / "notes.txt").write_text("no faces here")
    with pytest.raises(InvalidInputError, match="no image files"):
        tflite.representative_faces(tmp_path, tiny_info)
    with pytest.raises(InvalidInputError, match="no such folder"):
        tflite.representative_faces(tmp_path / "missing", tiny_info)


def test_representative_faces_of_an_unregistered_model_need_a_template(tiny_info, celeba_paths):
    with pytest.raises(InvalidInputError, match="not registered.*template"):
        tflite.representative_faces(celeba_paths[0].parent, tiny_info, 2)


def test_int8_rejects_float_islands(calibration_faces):
    """A UnitNormalization that is not the last layer stays SQUARE/RSQRT, and SQUARE has no
    int8 kernel: the conversion must fail and name the layer."""
    model = build_tiny_model()
    x = keras.layers.UnitNormalization(name="inner_l2")(model.get_layer("global_pool").output)
    x = keras.layers.Dense(8, name="after")(x)
    info = model_io.describe(keras.Model(model.inputs, x, name="float_island"))
    with pytest.raises(tflite.FloatOpsError, match="inner_l2"):
        tflite.convert(info, "int8", calibration_faces)


def test_config_validation(tmp_path):
    with pytest.raises(InvalidInputError, match="--quantization"):
        tflite.TFLiteConfig(model="m", quantization="int4", output="a.tflite")
    with pytest.raises(InvalidInputError, match="--input_type"):
        tflite.TFLiteConfig(model="m", quantization="int8", output="a.tflite",
                            representative_dir="d", input_type="int16")  # fmt: skip
    with pytest.raises(InvalidInputError, match="only to --quantization=int8"):
        tflite.TFLiteConfig(model="m", quantization="float16", output="a.tflite",
                            input_type="int8")  # fmt: skip
    with pytest.raises(InvalidInputError, match="LFW"):
        tflite.TFLiteConfig(model="m", quantization="int8", output="a.tflite",
                            representative_dir="../shared/data/lfw/lfw-deepfunneled")  # fmt: skip
    with pytest.raises(InvalidInputError, match=".tflite"):
        tflite.TFLiteConfig(model="m", quantization="float32", output="a.bin")
    for bad in (0.0, -5.0, 100.5, float("nan")):
        with pytest.raises(InvalidInputError, match="--calibration_percentile"):
            tflite.TFLiteConfig(model="m", quantization="int8", output="a.tflite",
                                representative_dir="d", calibration_percentile=bad)  # fmt: skip


def test_convert_rejects_a_bad_calibration_percentile(tiny_info, calibration_faces):
    with pytest.raises(InvalidInputError, match="calibration_percentile"):
        tflite.convert(tiny_info, "int8", calibration_faces, calibration_percentile=0)
