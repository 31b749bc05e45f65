"""Outlier-robust int8 calibration: activation peaks, outlier scores and the faces kept,
against numpy references of a model whose activations numpy can compute."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.export import calibration


def _dense_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 3), name="pixels")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(6, name="dense1")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(3, name="dense2")(x)
    return keras.Model(inputs, outputs)


def _numpy_peaks(model: keras.Model, faces: np.ndarray) -> np.ndarray:
    w1, b1 = (np.asarray(v, np.float64) for v in model.get_layer("dense1").get_weights())
    w2, b2 = (np.asarray(v, np.float64) for v in model.get_layer("dense2").get_weights())
    flat = faces.reshape(len(faces), -1).astype(np.float64)
    h = flat @ w1 + b1
    r = np.maximum(h, 0)
    out = r @ w2 + b2
    return np.stack([np.abs(a).max(axis=1) for a in (flat, h, r, out)], axis=1)


def test_activation_peaks_match_numpy():
    model = _dense_model()
    faces = np.random.default_rng(0).integers(0, 256, (37, 4, 4, 3)).astype(np.uint8)
    names, peaks = calibration.activation_peaks(model, faces, batch=8)
    assert names == ["flatten", "dense1", "relu", "dense2"]
    np.testing.assert_allclose(peaks, _numpy_peaks(model, faces), rtol=1e-5)


def test_outlier_scores_match_a_loop():
    rng = np.random.default_rng(1)
    peaks = rng.uniform(0.5, 2.0, (9, 4))
    peaks[:, 2] = 0.0  # a dead layer: ignored, not a division by zero
    peaks[3, 1] = 40.0
    expected = []
    for i in range(9):
        ratios = [peaks[i, j] / np.median(peaks[:, j]) for j in (0, 1, 3)]
        expected.append(max(ratios))
    got = calibration.outlier_scores(peaks)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.argmax() == 3


def test_select_faces_leaves_out_the_loud_face():
    model = _dense_model()
    rng = np.random.default_rng(2)
    faces = rng.integers(100, 140, (20, 4, 4, 3)).astype(np.uint8)
    faces[7] = 255  # far louder in every layer than the others
    kept, left_out = calibration.select_faces(model, faces, percentile=95)
    scores = calibration.outlier_scores(_numpy_peaks(model, faces))
    expected = np.flatnonzero(scores > np.percentile(scores, 95))
    assert 7 in left_out
    np.testing.assert_array_equal(left_out, expected)
    assert len(kept) == 20 - len(left_out)
    assert not any(np.array_equal(face, faces[7]) for face in kept)


@pytest.mark.parametrize("percentile", [100.0, 100])
def test_percentile_100_keeps_every_face(percentile):
    faces = np.zeros((5, 4, 4, 3), np.uint8)
    kept, left_out = calibration.select_faces(_dense_model(), faces, percentile)
    assert kept is faces and left_out.size == 0
