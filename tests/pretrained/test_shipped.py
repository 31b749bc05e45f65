"""Shipped weights: the ``.npz`` format round-trips every weight, and loading refuses a
file whose arrays do not hash to the pinned value or do not fit the architecture."""

from __future__ import annotations

import numpy as np
import pytest

import facenet_tf
from facenet_tf.errors import InvalidInputError
from facenet_tf.pretrained import shipped
from facenet_tf.pretrained.cache import ChecksumError, arrays_sha256

NAME = "mobilefacenet_harmonic_dlib"


@pytest.fixture(scope="module")
def trained():
    """A model with every weight (batch-norm statistics too) set to distinct values."""
    model = facenet_tf.create_model("mobilefacenet")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights(
            [rng.normal(size=w.shape).astype(w.dtype) ** 2 + 0.1 for w in layer.get_weights()]
        )
    return model


def test_round_trip_sets_every_weight(trained, tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    digest = shipped.save_model_arrays(trained, path)
    with np.load(path) as data:
        assert digest == arrays_sha256({k: data[k] for k in data.files})
    monkeypatch.setitem(shipped.SHIPPED, NAME, digest)
    fresh = facenet_tf.create_model(NAME)  # the same architecture under the shipped name
    shipped.load_shipped_weights(fresh, NAME, path)
    want, got = shipped.model_arrays(trained), shipped.model_arrays(fresh)
    assert set(want) == set(got) and len(want) > 100
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_unpinned_arrays_are_refused(trained, tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    shipped.save_model_arrays(trained, path)
    monkeypatch.setitem(shipped.SHIPPED, NAME, "0" * 64)
    with pytest.raises(ChecksumError, match="w.npz"):
        shipped.load_shipped_weights(facenet_tf.create_model(NAME), NAME, path)
    with pytest.raises(ChecksumError, match="missing.npz"):
        shipped.load_shipped_weights(facenet_tf.create_model(NAME), NAME, tmp_path / "missing.npz")


def test_another_architecture_is_refused(trained, tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    monkeypatch.setitem(shipped.SHIPPED, NAME, shipped.save_model_arrays(trained, path))
    with pytest.raises(InvalidInputError, match="embedding_dense"):
        shipped.load_shipped_weights(facenet_tf.create_model(NAME, embedding_dim=64), NAME, path)
