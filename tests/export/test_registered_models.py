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
    # Initial weights (seed 0 in registered_export_model): mobilefacenet 0.946; unseeded
    # runs ranged 0.906-0.97, the spread of random networks, not of the converter.
    "int8": (0.995, 0.93),
}


# Post-training int8 of the shipped MobileFaceNet loses more than dlib's ResNet does (min
# cosine 0.939, mean 0.972 over 1,000 CelebA faces in docs/export/parity_mobilefacenet_
# harmonic_dlib.md; 0.955 on the 24 faces here): a measured floor, not a target.
KNOWN_WEAK = {("mobilefacenet_harmonic_dlib", "int8"): 0.93}


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
