"""Fixtures of the export tests: a small model with the registry's structure, and real
faces (CelebA photos, never LFW) made its inputs by the export face pipeline."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from facenet_tf.export import faces, model_io
from facenet_tf.io.files import list_images
from facenet_tf.layers.pixel_normalization import PixelNormalization
from facenet_tf.models.heads import embedding_head

TINY_SIZE = (40, 40)
TINY_MEAN = (122.782, 117.001, 104.298)
TINY_SCALE = 1.0 / 256.0
# The tiny model is not registered: its faces are aligned to this template.
TINY_TEMPLATE = "facenet_160"


def build_tiny_model(size: tuple[int, int] = TINY_SIZE, embedding_dim: int = 16, seed: int = 0):
    """PixelNormalization -> conv/BN/ReLU -> residual add -> pools -> Dense -> UnitNormalization,
    the layer kinds of the registered families, small enough to convert in a second."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*size, 3), name="pixels")
    x = PixelNormalization(mean=TINY_MEAN, scale=TINY_SCALE, name="pixel_normalization")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=False, name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    y = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = embedding_head(x, embedding_dim)
    model = keras.Model(inputs, outputs, name="tiny_export_test")
    # BatchNorm statistics that are not the identity, as in a trained model.
    bn = model.get_layer("bn1")
    rng = np.random.default_rng(seed)
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
            rng.normal(0, 0.1, beta.shape).astype(np.float32),
            rng.normal(0, 0.1, mean.shape).astype(np.float32),
            rng.uniform(0.5, 2.0, var.shape).astype(np.float32),
        ]
    )
    return model


@functools.cache
def registered_export_model(name: str) -> model_io.ExportModel:
    """A registered model (pretrained weights where it has them), built once per session."""
    import keras

    import facenet_tf

    # Untrained architectures get their initial weights from a fixed seed: unseeded, the
    # int8 cosine of a random network varies from run to run (0.906 to 0.97 measured).
    keras.utils.set_random_seed(0)
    return model_io.describe(facenet_tf.load_model(name))


@pytest.fixture(scope="session")
def tiny_info() -> model_io.ExportModel:
    return model_io.describe(build_tiny_model())


@pytest.fixture(scope="session")
def celeba_paths(shared_data):
    directory = shared_data / faces.CELEBA_ALIGNED
    if not directory.is_dir():
        pytest.skip(f"{directory} is not available")
    return list_images(directory)


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_info):
    """The export face pipeline of the tiny model."""
    return faces.export_pipeline(tiny_info, template=TINY_TEMPLATE)


@pytest.fixture(scope="session")
def calibration_faces(celeba_paths, tiny_pipeline) -> np.ndarray:
    """uint8 [64, H, W, 3] CelebA faces for int8 calibration."""
    return faces.face_inputs(faces.sample_paths(celeba_paths, 64), tiny_pipeline)[0]


@pytest.fixture(scope="session")
def eval_faces(celeba_paths, tiny_pipeline) -> np.ndarray:
    """uint8 [48, H, W, 3] CelebA faces disjoint from the calibration faces."""
    return faces.face_inputs(faces.sample_paths(celeba_paths, 48, offset=64), tiny_pipeline)[0]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity, float64 [N] (numpy reference)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
