"""The training step's fused BatchNormalization and PReLU against float64 numpy references.

Tolerances come from the arithmetic: a float32 sum of n terms is off by at most about
n * eps * (sum of |terms|) in any summation order (oneDNN or XLA), and the tests allow
that bound (with sqrt(n) in place of n where many such sums are combined, as noted).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.losses import triplet_semihard_loss
from facenet_tf.train.fast_layers import (
    FusedTrainingBatchNorm,
    FusedTrainingPReLU,
    fast_training_model,
    prelu,
)

EPS32 = float(np.finfo(np.float32).eps)


def _grads(layer, x, dy, variables):
    """Training-mode output and d(sum(y * dy)) / d[x, *variables]."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * dy)
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, [x, *variables])]


# ---------------------------------------------------------------- PReLU


def _prelu64(x, alpha, dy, axes):
    x, alpha, dy = (np.asarray(a, np.float64) for a in (x, alpha, dy))
    y = np.where(x > 0, x, alpha * x)
    dx = np.where(x > 0, dy, alpha * dy)
    terms = np.where(x > 0, 0.0, x * dy)
    dalpha = terms.sum(axis=tuple(axes), keepdims=True)[0]
    bound = np.abs(terms).sum(axis=tuple(axes), keepdims=True)[0]
    return y, dx, dalpha, bound


@pytest.mark.parametrize(
    "shape,shared,axes",
    [((4, 5, 6, 3), [1, 2], [0, 1, 2]), ((4, 5, 6, 3), None, [0]), ((7, 3), None, [0])],
)
def test_prelu_is_keras_bit_for_bit_with_numpy_gradients(shape, shared, axes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    x.flat[:3] = 0.0  # the kink itself
    dy = rng.normal(size=shape).astype(np.float32)
    layer = keras.layers.PReLU(shared_axes=shared)
    layer.build(shape)
    alpha = rng.uniform(-0.5, 1.5, size=layer.alpha.shape).astype(np.float32)  # > 1 too
    layer.alpha.assign(alpha)

    y_keras = layer(tf.constant(x)).numpy()
    y, (dx, dalpha) = _grads(FusedTrainingPReLU(layer), x, dy, [layer.alpha])
    ref_y, ref_dx, ref_dalpha, bound = _prelu64(x, alpha, dy, axes)

    np.testing.assert_array_equal(y, y_keras)  # same float32 function, bit for bit
    np.testing.assert_allclose(y, ref_y, rtol=EPS32, atol=0)
    nonzero = x != 0  # at x == 0 the subgradient is a convention
    np.testing.assert_allclose(dx[nonzero], ref_dx[nonzero], rtol=EPS32, atol=0)
    n = x.size // alpha.size
    assert np.all(np.abs(dalpha - ref_dalpha) <= n * EPS32 * bound + 1e-30)


def test_prelu_function_takes_and_returns_float32():
    x = tf.constant([[-2.0, 3.0]])
    a = tf.constant([0.25, 0.5])
    np.testing.assert_array_equal(prelu(x, a).numpy(), [[-0.5, 3.0]])


def test_prelu_other_dtypes_call_the_layer():
    layer = keras.layers.PReLU(dtype="float64")
    layer.build((2, 3))
    x = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]])
    out = FusedTrainingPReLU(layer)(tf.constant(x))
    assert out.dtype == tf.float64
    np.testing.assert_array_equal(out.numpy(), layer(tf.constant(x)).numpy())


# ------------------------------------------------------- BatchNormalization


def _bn64(x, gamma, beta, dy, eps, momentum, moving_mean, moving_var):
    """Training-mode batch norm over all axes but the last, and its exact gradient."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)  # biased, as the normalisation uses
    sigma = np.sqrt(var + eps)
    xhat = (x - mean) / sigma
    y = gamma * xhat + beta
    g = dy * gamma
    dx = (n * g - g.sum(axis=axes) - xhat * (g * xhat).sum(axis=axes)) / (n * sigma)
    return {
        "y": y,
        "dx": dx,
        "dgamma": (dy * xhat).sum(axis=axes),
        "dbeta": dy.sum(axis=axes),
        "moving_mean": moving_mean * momentum + mean * (1 - momentum),
        "moving_variance": moving_var * momentum + var * (1 - momentum),
        "n": n,
        "scale": {  # sums of |terms| behind each figure, for the tolerances
            "y": np.abs(gamma) * (np.abs(xhat) + 1) + np.abs(beta),
            "dx": (np.abs(g).sum(axis=axes) + (np.abs(g * xhat)).sum(axis=axes) * np.abs(xhat))
            / sigma,
            "dgamma": np.abs(dy * xhat).sum(axis=axes),
            "dbeta": np.abs(dy).sum(axis=axes),
        },
    }


@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (32, 4)])
def test_batch_norm_training_step_matches_float64(shape):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 3 + 2).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)
    bn.build(shape)
    c = shape[-1]
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    moving = rng.normal(size=c), rng.uniform(0.5, 2, c)
    for var, value in zip(
        (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance), (gamma, beta, *moving), strict=True
    ):
        var.assign(value.astype(np.float32))
    gamma, beta, mm, mv = (v.numpy().astype(np.float64) for v in bn.weights)
    ref = _bn64(x, gamma, beta, dy, 1e-5, 0.9, mm, mv)

    y, (dx, dgamma, dbeta) = _grads(FusedTrainingBatchNorm(bn), x, dy, [bn.gamma, bn.beta])

    n, tol = ref["n"], lambda name: 4 * ref["n"] * EPS32 * ref["scale"][name]
    assert np.all(np.abs(y - ref["y"]) <= tol("y"))
    assert np.all(np.abs(dx - ref["dx"]) <= tol("dx"))
    assert np.all(np.abs(dgamma - ref["dgamma"]) <= tol("dgamma"))
    assert np.all(np.abs(dbeta - ref["dbeta"]) <= tol("dbeta"))
    # Moving statistics: the biased variance, the layer's momentum.
    np.testing.assert_allclose(bn.moving_mean.numpy(), ref["moving_mean"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), ref["moving_variance"], rtol=n * EPS32, atol=1e-6
    )


def test_batch_norm_inference_is_the_layer_bit_for_bit():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(3, 4, 4, 5)).astype(np.float32))
    bn = keras.layers.BatchNormalization()
    bn.build(x.shape)
    bn.moving_variance.assign(rng.uniform(0.5, 2, 5).astype(np.float32))
    fused = FusedTrainingBatchNorm(bn)
    np.testing.assert_array_equal(fused(x, training=False).numpy(), bn(x, training=False).numpy())


@pytest.mark.parametrize(
    "kwargs",
    [{"renorm": True}, {"synchronized": True}, {"axis": 1}, {"dtype": "float64"}],
)
def test_batch_norm_cases_it_does_not_cover_call_the_layer(kwargs):
    rng = np.random.default_rng(3)
    dtype = kwargs.get("dtype", "float32")
    x = tf.constant(rng.normal(size=(6, 3, 4, 5)).astype(dtype))
    bn = keras.layers.BatchNormalization(**kwargs)
    bn.build(x.shape)
    start = [v.numpy() for v in bn.non_trainable_variables]
    expected = bn(x, training=True).numpy()
    after_layer = [v.numpy() for v in bn.non_trainable_variables]
    for var, value in zip(bn.non_trainable_variables, start, strict=True):
        var.assign(value)
    np.testing.assert_array_equal(FusedTrainingBatchNorm(bn)(x, training=True).numpy(), expected)
    for var, value in zip(bn.non_trainable_variables, after_layer, strict=True):
        np.testing.assert_array_equal(var.numpy(), value)


def test_frozen_batch_norm_keeps_its_statistics():
    x = tf.constant(np.random.default_rng(4).normal(size=(6, 3, 3, 2)).astype(np.float32))
    bn = keras.layers.BatchNormalization()
    bn.build(x.shape)
    bn.trainable = False
    out = FusedTrainingBatchNorm(bn)(x, training=True)
    np.testing.assert_array_equal(out.numpy(), bn(x, training=False).numpy())
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(2))


# ------------------------------------------------------------- the model


def _small_model(dtype="float32"):
    x = inputs = keras.Input((12, 12, 3), dtype=dtype)
    x = keras.layers.Conv2D(6, 3, strides=2, use_bias=False, name="c1", dtype=dtype)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name="c1_bn", dtype=dtype)(x)
    x = keras.layers.PReLU(shared_axes=[1, 2], name="c1_prelu", dtype=dtype)(x)
    skip = x
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw", dtype=dtype)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name="dw_bn", dtype=dtype)(x)
    x = keras.layers.Add(name="add", dtype=dtype)([x, skip])
    x = keras.layers.GlobalAveragePooling2D(name="pool", dtype=dtype)(x)
    x = keras.layers.Dense(4, name="dense", dtype=dtype)(x)
    x = keras.layers.BatchNormalization(name="dense_bn", dtype=dtype)(x)
    return keras.Model(inputs, x, name="small")


@pytest.fixture
def models():
    keras.utils.set_random_seed(5)
    model = _small_model()
    reference = _small_model("float64")
    rng = np.random.default_rng(5)
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            layer.alpha.assign(rng.uniform(0.05, 0.4, layer.alpha.shape).astype(np.float32))
    for ref, var in zip(reference.weights, model.weights, strict=True):
        ref.assign(var.numpy().astype(np.float64))
    return model, reference


def test_shares_every_variable_and_wraps_each_layer(models):
    model, _ = models
    fast = fast_training_model(model)
    assert {id(v) for v in fast.trainable_variables} == {id(v) for v in model.trainable_variables}
    assert {id(v) for v in fast.weights} == {id(v) for v in model.weights}
    kinds = [type(layer).__name__ for layer in fast.layers]
    assert kinds.count("FusedTrainingBatchNorm") == 3
    assert kinds.count("FusedTrainingPReLU") == 1
    assert "BatchNormalization" not in kinds and "PReLU" not in kinds


def test_training_step_matches_float64_and_updates_the_models_statistics(models):
    model, reference = models
    fast = fast_training_model(model)
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, (16, 12, 12, 3)).astype(np.float32)
    dy = rng.normal(size=(16, 4))
    _, ref_grads = _grads(reference, x.astype(np.float64), dy, reference.trainable_variables)
    keras_y, keras_grads = _grads(model, x, dy.astype(np.float32), model.trainable_variables)
    keras_stats = [v.numpy() for v in model.non_trainable_variables]
    for var in model.non_trainable_variables:  # back to the initial statistics
        var.assign(np.zeros_like(var.numpy()) if "mean" in var.path else np.ones(var.shape))
    y, grads = _grads(fast, x, dy.astype(np.float32), model.trainable_variables)
    # Keras's own float32 layers and the fused forms both round; neither may be further
    # from the float64 step than a few eps per accumulated term. A gradient that is zero
    # in exact arithmetic (the dense bias before a batch norm) is held to the scale of
    # the model's others.
    floor = 1e-2 * max(np.abs(g).max() for g in ref_grads[1:])
    for g_fast, g_keras, g_ref in zip(grads[1:], keras_grads[1:], ref_grads[1:], strict=True):
        scale = max(np.abs(g_ref).max(), floor)
        assert np.abs(g_fast - g_ref).max() / scale < 1e-4
        assert np.abs(g_keras - g_ref).max() / scale < 1e-4
    np.testing.assert_allclose(y, keras_y, rtol=0, atol=1e-4 * np.abs(keras_y).max())
    for var, expected in zip(model.non_trainable_variables, keras_stats, strict=True):
        np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_inference_is_the_model_bit_for_bit(models):
    model, _ = models
    fast = fast_training_model(model)
    x = tf.constant(np.random.default_rng(7).uniform(0, 1, (5, 12, 12, 3)).astype(np.float32))
    np.testing.assert_array_equal(fast(x, training=False).numpy(), model(x, training=False).numpy())


def test_a_sequential_model_is_returned_as_it_is():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert fast_training_model(model) is model


@pytest.mark.parametrize("fused", [True, False])
def test_the_trainer_steps_with_the_fused_forms_only_when_asked(models, tmp_path, fused):
    from facenet_tf.train import schedules
    from facenet_tf.train.config import TrainConfig
    from facenet_tf.train.train_lib import Trainer

    model, reference = models
    config = TrainConfig(
        model="mobilefacenet",
        data_dir=(str(tmp_path),),
        workdir=str(tmp_path / "run"),
        identities_per_batch=4,
        images_per_identity=2,
        optimizer="sgd",
        learning_rate=0.1,
        embedding_dim=4,
        fused_layers=fused,
    )
    optimizer = schedules.build_optimizer(config)
    optimizer.build(model.trainable_variables)
    trainer = Trainer(
        config, tf.distribute.get_strategy(), model, optimizer, tf.Variable(0, dtype=tf.int64)
    )
    kinds = {type(layer).__name__ for layer in trainer.train_model.layers}
    assert ("FusedTrainingBatchNorm" in kinds) == fused
    assert ("BatchNormalization" in kinds) != fused
    rng = np.random.default_rng(8)
    batch = {
        "image": tf.constant(rng.uniform(0, 1, (8, 12, 12, 3)).astype(np.float32)),
        "label": tf.constant(np.repeat(np.arange(4), 2)),
    }
    loss = trainer.train_loop(iter([batch]))["loss"].numpy()
    # The same loss from float64 Keras layers (the trainer's embeddings are the model's
    # outputs; the loss itself runs in float32 in both).
    out = reference(tf.cast(batch["image"], tf.float64), training=True)
    ref_loss = triplet_semihard_loss(batch["label"], tf.cast(out, tf.float32), margin=config.margin)
    assert float(ref_loss) > 0.01  # a loss with active triplets, so that it tells
    assert loss == pytest.approx(float(ref_loss), rel=1e-4)
