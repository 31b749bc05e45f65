"""Keras wrappers: config completeness, serialisation, .keras round trip, model.fit."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import (
    TripletBatchAllLoss,
    TripletBatchHardLoss,
    TripletSemiHardLoss,
    triplet_batch_all_loss,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
)
from tests.losses._batches import float32_atol, random_batch
from tests.reference import triplet_reference as ref

CLASSES = [TripletSemiHardLoss, TripletBatchHardLoss, TripletBatchAllLoss]
NON_DEFAULT = {
    TripletSemiHardLoss: {"margin": 0.7, "distance": "euclidean", "name": "sh"},
    TripletBatchHardLoss: {"margin": 0.4, "soft": True, "distance": "cosine", "name": "bh"},
    TripletBatchAllLoss: {"margin": 0.1, "distance": "cosine", "name": "ba"},
}
REFERENCE = {
    TripletSemiHardLoss: lambda y, x, c: ref.semihard_loss(y, x, c["margin"], c["distance"]),
    TripletBatchHardLoss: lambda y, x, c: ref.batch_hard_loss(
        y, x, c["margin"], c["soft"], c["distance"]
    ),
    TripletBatchAllLoss: lambda y, x, c: ref.batch_all(y, x, c["margin"], c["distance"])["loss"],
}


@pytest.mark.parametrize("cls", CLASSES)
def test_get_config_has_every_init_argument(cls):
    loss = cls(**NON_DEFAULT[cls])
    config = loss.get_config()
    assert set(inspect.signature(cls.__init__).parameters) - {"self"} <= set(config)
    for key, value in NON_DEFAULT[cls].items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize("cls", CLASSES)
def test_value_matches_reference_and_tfa_alias(cls):
    labels, x = random_batch(21, 20, 8, 4, every_label_twice=True)
    loss = cls(**NON_DEFAULT[cls])
    want = REFERENCE[cls](labels, x, NON_DEFAULT[cls])
    tol = {"rtol": 1e-5, "atol": float32_atol(x, NON_DEFAULT[cls]["distance"])}
    np.testing.assert_allclose(loss(labels, x).numpy(), want, **tol)
    np.testing.assert_allclose(tf.function(loss)(labels, x).numpy(), want, **tol)
    # A [B, 1] label column, as Keras sometimes hands y_true over.
    np.testing.assert_allclose(loss(labels[:, None], x).numpy(), want, **tol)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("squared-L2", "squared_l2"), ("L2", "euclidean"), ("l2", "euclidean"), ("angular", "cosine")],
)
def test_aliases_are_stored_canonically(alias, name):
    """Configs saved with any spelling (e.g. "l2" before the names were unified) load."""
    config = TripletSemiHardLoss(distance=alias).get_config()
    assert config["distance"] == name
    assert TripletSemiHardLoss.from_config({**config, "distance": alias}).distance == name


@pytest.mark.parametrize("cls", CLASSES)
def test_keras_serialize_round_trip(cls):
    loss = cls(**NON_DEFAULT[cls])
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is cls
    assert restored.get_config() == loss.get_config()


def _tiny_model(dtype=None) -> keras.Model:
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, dtype=dtype, name="embedding_dense")(inputs)
    outputs = keras.layers.UnitNormalization(dtype=dtype, name="embedding_l2")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.mark.parametrize("cls", CLASSES)
def test_keras_file_round_trip(cls, tmp_path):
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=cls(**NON_DEFAULT[cls]))
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss) is cls
    assert loaded.loss.get_config() == model.loss.get_config()
    labels, x = random_batch(22, 12, 6, 3, unit=False, every_label_twice=True)
    np.testing.assert_allclose(
        loaded.loss(labels, loaded(x)).numpy(), model.loss(labels, model(x)).numpy(), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("cls", "fn"),
    [
        (TripletSemiHardLoss, triplet_semihard_loss),
        (TripletBatchHardLoss, triplet_batch_hard_loss),
        (TripletBatchAllLoss, triplet_batch_all_loss),
    ],
)
def test_model_fit_with_int_labels(cls, fn):
    """One full batch per epoch: epoch 1 reports the loss at the initial weights, which
    must equal the function on the model's output; training then lowers it."""
    keras.utils.set_random_seed(0)
    labels, x = random_batch(23, 32, 6, 4, unit=False, every_label_twice=True)
    model = _tiny_model()
    expected = fn(labels, model(x), margin=0.5).numpy()
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss=cls(margin=0.5))
    history = model.fit(x, labels, batch_size=32, epochs=15, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_sample_weight_is_refused():
    labels, x = random_batch(24, 6, 4, 2)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        TripletSemiHardLoss()(labels, x, sample_weight=np.ones(6, np.float32))


def test_large_int_labels_are_not_merged_by_float_casting():
    """keras.losses.Loss would cast y_true to float32, where 2**24 == 2**24 + 1."""
    labels = np.array([2**24, 2**24 + 1, 2**24, 2**24 + 1], np.int64)
    x = random_batch(25, 4, 4, 1)[1]
    want = ref.semihard_loss(labels, x)
    assert want != pytest.approx(ref.semihard_loss(labels.astype(np.float32), x))
    np.testing.assert_allclose(TripletSemiHardLoss()(labels, x).numpy(), want, rtol=1e-5)


@pytest.fixture
def mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("cls", CLASSES)
def test_mixed_float16_model_output(cls, mixed_float16):
    """float16 embeddings from a mixed-precision model give the float32 value of the same
    (rounded) embeddings, finite gradients, and a float32 loss."""
    model = _tiny_model()
    labels, x = random_batch(26, 24, 6, 4, unit=False, every_label_twice=True)
    with tf.GradientTape() as tape:
        y = model(x)
        loss = cls(margin=0.3)(labels, y)
    assert y.dtype == tf.float16 and loss.dtype == tf.float32
    want = cls(margin=0.3)(labels, tf.cast(y, tf.float32))
    np.testing.assert_allclose(loss.numpy(), want.numpy(), rtol=1e-6)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
