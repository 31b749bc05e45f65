"""Training-mode BatchNormalization and PReLU at the cost of their arithmetic.

Keras 3 runs a training-mode ``BatchNormalization`` as separate moment, normalisation
and gradient passes, and ``PReLU`` as ``relu(x) - alpha * relu(-x)``, whose gradient
takes about seven element-wise passes. On MobileFaceNet's training step (64 crops of
112x112, 2 CPU cores) the two took about two thirds of the time. ``fast_training_model``
returns a functional model that shares every layer and variable with the given one, in
which each such layer computes the same function through TensorFlow's fused batch-norm
kernel (forward and gradient) and an XLA-fused PReLU with its gradient written out.
Values differ from the layers' own by float rounding only (tested).

Only the training forward pass uses it; inference, saving and export see the model's
own layers. A layer the fast forms do not cover (renorm, synchronized or masked
BatchNormalization, another axis or dtype) is called as it is.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class FusedTrainingBatchNorm(keras.layers.Layer):
    """A ``BatchNormalization`` layer's training step through ``FusedBatchNormV3``.

    Batch statistics normalise the input ([N, H, W, C] or [N, C], float32) and the
    moving statistics are updated exactly as the layer itself updates them (biased batch
    variance, the layer's momentum). Any other call is the wrapped layer's.
    """

    def __init__(self, layer: keras.layers.BatchNormalization, **kwargs):
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(name=f"{layer.name}_fused_training", **kwargs)
        self.layer = layer

    def _fusable(self, x) -> bool:
        bn = self.layer
        axis = bn.axis if isinstance(bn.axis, int) else None
        rank = len(x.shape)
        return (
            bn.trainable
            and not bn.renorm
            and not bn.synchronized
            and x.dtype == tf.float32
            and bn.moving_mean.dtype == "float32"
            and rank in (2, 4)
            and axis in (-1, rank - 1)
        )

    def call(self, x, training=None, mask=None):
        bn = self.layer
        if not training or mask is not None or not self._fusable(x):
            return bn(x, training=training, mask=mask)
        channels = x.shape[-1]
        gamma = tf.convert_to_tensor(bn.gamma) if bn.scale else tf.ones([channels])
        beta = tf.convert_to_tensor(bn.beta) if bn.center else tf.zeros([channels])
        x4 = x if len(x.shape) == 4 else x[:, None, None, :]
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x4, gamma, beta, epsilon=bn.epsilon, is_training=True
        )
        # The kernel returns the unbiased variance for running averages; the layer keeps
        # the biased one (keras.ops.moments), as the normalisation itself uses.
        n = tf.cast(tf.reduce_prod(tf.shape(x4)[:-1]), tf.float32)
        variance = unbiased * ((n - 1.0) / tf.maximum(n, 1.0))
        bn.moving_mean.assign(bn.moving_mean * bn.momentum + mean * (1.0 - bn.momentum))
        bn.moving_variance.assign(bn.moving_variance * bn.momentum + variance * (1.0 - bn.momentum))
        return y if len(x.shape) == 4 else y[:, 0, 0, :]

    def compute_output_shape(self, input_shape):
        return input_shape


def _alpha_axes(x_shape, alpha_shape) -> list[int]:
    """The axes of x [N, ...] over which PReLU's slope gradient is summed."""
    return [0] + [i + 1 for i, d in enumerate(alpha_shape) if d == 1 and x_shape[i + 1] != 1]


@tf.function(jit_compile=True, autograph=False)
def _prelu_forward(x, alpha):
    return tf.where(x > 0, x, alpha * x)


@tf.function(jit_compile=True, autograph=False)
def _prelu_backward(x, alpha, dy):
    positive = x > 0
    dx = tf.where(positive, dy, alpha * dy)
    dalpha = tf.where(positive, tf.zeros_like(x), x * dy)
    dalpha = tf.reduce_sum(dalpha, axis=_alpha_axes(x.shape, alpha.shape), keepdims=True)
    return dx, tf.reshape(dalpha, tf.shape(alpha))


@tf.custom_gradient
def prelu(x: tf.Tensor, alpha: tf.Tensor):
    """``x`` where positive, ``alpha * x`` elsewhere (Keras's PReLU, bit for bit).

    Args:
        x: float32 [N, ...].
        alpha: float32 slopes of x's shape without N, 1 on shared axes.

    Returns:
        float32, x's shape; the gradient is two fused passes (dx, then d alpha summed
        over the batch and the shared axes).
    """

    def grad(dy):
        return _prelu_backward(x, alpha, dy)

    return _prelu_forward(x, alpha), grad


class FusedTrainingPReLU(keras.layers.Layer):
    """A ``PReLU`` layer computed by ``prelu`` (float32); other dtypes call the layer."""

    def __init__(self, layer: keras.layers.PReLU, **kwargs):
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(name=f"{layer.name}_fused_training", **kwargs)
        self.layer = layer

    def call(self, x):
        alpha = self.layer.alpha
        if (
            x.dtype != tf.float32
            or alpha.dtype != "float32"
            or len(alpha.shape) != len(x.shape) - 1
        ):
            return self.layer(x)
        return prelu(x, tf.convert_to_tensor(alpha))

    def compute_output_shape(self, input_shape):
        return input_shape


_FAST = {
    keras.layers.BatchNormalization: FusedTrainingBatchNorm,
    keras.layers.PReLU: FusedTrainingPReLU,
}


def _call(layer, *args, **kwargs):
    fast = _FAST.get(type(layer))
    return (fast(layer) if fast else layer)(*args, **kwargs)


def fast_training_model(model: keras.Model) -> keras.Model:
    """A functional model sharing ``model``'s layers and variables, with each
    ``BatchNormalization`` and ``PReLU`` computed by the fused forms above.

    Args:
        model: a functional Keras model. A Sequential or subclassed model is returned as
            it is, and so are the layers of a model nested inside it (not recursed into).

    Returns:
        The model to call with ``training=True`` in a training step; its outputs equal
        ``model``'s up to float rounding, and its updates go to ``model``'s variables.
    """
    try:
        return keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=_call
        )
    except ValueError:  # Keras refuses call_function for Sequential and subclassed models
        return model
