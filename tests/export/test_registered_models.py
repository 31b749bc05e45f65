"""Each registered model converts to every TFLite variant and runs in LiteRT on real
faces within a stated cosine of its Keras forward pass.

The default tier covers the default model (float32, int8), mobilefacenet (int8) and the shipped
harmonic mobilefacenet (int8); every other
(model, variant) pair is marked slow. Models without pretrained weights run with their
initial weights, whose activations are less regular than trained ones, hence the looser
int8 bound for them.
"""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.export import faces, litert, tflite
from tests.export.conftest import cosine_rows, registered_export_model

SMALL_MODELS = ("mobilefacenet", "mobilefacenet_harmonic_dlib", "dlib_resnet_v1", "nns2", "nn4")
DEFAULT_TIER = {
    ("dlib_resnet_v1", "float32"),
    ("dlib_resnet_v1", "int8"),
    ("mobilefacenet", "int8"),
    ("mobilefacenet_harmonic_dlib", "int8"),
}
PRETRAINED = {"dlib_resnet_v1", "mobilefacenet_harmonic_dlib"}
# Minimum cosine over the faces, per variant: pretrained models / initial weights.
MIN_COSINE = {
    "float32": (0.99999, 0.9999),
    "float16": (0.9999, 0.999),
    "dynamic": (0.999, 0.99),
    # Initial weights (seed 0 in registered_export_model): mobilefacenet 0.904 with the
    # outlier-robust calibration (0.920 with plain min/max); unseeded runs ranged
    # 0.906-0.97, the spread of random networks, not of the converter.
    "int8": (0.995, 0.89),
}


# Post-training int8 of the shipped MobileFaceNet loses more than dlib's ResNet does on its
# rarest faces (stage-3 weights: min cosine 0.811, mean 0.996 over 1,000 CelebA faces in
# docs/export/parity_mobilefacenet_harmonic_dlib.md; min 0.954 on one of the 24 faces here,
# the other 23 >= 0.99): a measured floor, not a target. Its mean is held to the pretrained
# bound below.
KNOWN_WEAK = {("mobilefacenet_harmonic_dlib", "int8"): 0.94}
MIN_MEAN_COSINE_INT8 = 0.99


def _cases():
    for name in SMALL_MODELS:
        for q in tflite.QUANTIZATIONS:
            marks = [] if (name, q) in DEFAULT_TIER else [pytest.mark.slow]
            yield pytest.param(name, q, marks=marks, id=f"{name}-{q}")


@pytest.mark.parametrize("name,quantization", list(_cases()))
def test_registered_model_variant(name, quantization, celeba_paths):
    import facenet_tf

    if name not in facenet_tf.list_models():
        pytest.skip(f"{name} is not registered")
    info = registered_export_model(name)
    pipeline = faces.export_pipeline(info)
    calib, _ = faces.face_inputs(faces.sample_paths(celeba_paths, 64), pipeline)
    evaluation, _ = faces.face_inputs(faces.sample_paths(celeba_paths, 24, offset=64), pipeline)
    flatbuffer = tflite.convert(info, quantization, calib if quantization == "int8" else None)
    embedder = litert.LiteRTEmbedder(flatbuffer)
    got = embedder.embed(evaluation)
    expected = info.model.predict(evaluation.astype(np.float32), verbose=0)
    bound = MIN_COSINE[quantization][0 if name in PRETRAINED else 1]
    if (name, quantization) in KNOWN_WEAK:
        bound = KNOWN_WEAK[name, quantization]
    cos = cosine_rows(got, expected)
    assert cos.min() >= bound, f"{name} {quantization}: min cosine {cos.min():.6f} < {bound}"
    if quantization == "int8":
        assert litert.float_ops(flatbuffer) == []
        if name in PRETRAINED:
            assert cos.mean() >= MIN_MEAN_COSINE_INT8, f"{name}: mean cosine {cos.mean():.6f}"


# CelebA photos that drove the first release of the harmonic MobileFaceNet's last layers to
# 20-60 times their typical range (found by ``facenet_tf.export.calibration.activation_peaks``
# over 1,000 training crops); with them in plain min/max calibration the shipped weights'
# mean cosine falls to 0.963, against 0.997 with the outlier-robust choice.
LOUD_FACES = ("5029/085271.jpg", "8717/190643.jpg", "10082/004061.jpg")


@pytest.mark.slow
def test_outlier_faces_in_calibration_do_not_coarsen_the_rest(celeba_paths):
    import facenet_tf

    name = "mobilefacenet_harmonic_dlib"
    if name not in facenet_tf.list_models():
        pytest.skip(f"{name} is not registered")
    root = celeba_paths[0].parents[1]
    loud = [root / p for p in LOUD_FACES]
    if not all(p.is_file() for p in loud):
        pytest.skip("the loud CelebA photos are not available")
    info = registered_export_model(name)
    pipeline = faces.export_pipeline(info)
    calib, _ = faces.face_inputs(faces.sample_paths(celeba_paths, 45) + loud, pipeline)
    evaluation, _ = faces.face_inputs(faces.sample_paths(celeba_paths, 24, offset=64), pipeline)
    expected = info.model.predict(evaluation.astype(np.float32), verbose=0)
    mean = {}
    for percentile in (100.0, 90.0):
        flatbuffer = tflite.convert(info, "int8", calib, calibration_percentile=percentile)
        mean[percentile] = cosine_rows(
            litert.LiteRTEmbedder(flatbuffer).embed(evaluation), expected
        ).mean()
    assert mean[90.0] >= MIN_MEAN_COSINE_INT8, mean
    assert mean[100.0] < mean[90.0] - 0.01, mean  # plain min/max is visibly coarser
