"""Local response normalisation across channels (the paper's "rnorm" / "norm" rows)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="facenet_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """Cross-channel LRN: ``x_c / (bias + alpha * sum_{|c'-c| <= r} x_{c'}**2) ** beta``.

    Defaults follow OpenFace's FaceNet nn4 models (Torch ``SpatialCrossMapLRN(5, 1e-4,
    0.75)``): a window of 5 channels (``depth_radius=2``) and Torch's ``alpha / size``
    convention converted to TensorFlow's, ``alpha = 1e-4 / 5``. The result is that of
    ``tf.nn.local_response_normalization``, computed in float32 from ops that TFLite
    runs in int8 (its LOCAL_RESPONSE_NORMALIZATION and POW ops are float-only, which
    would leave float islands in a full-integer export):

    * the windowed sum of squares is the window size times a "valid" average pool of
      width 2r + 1 over the zero-padded squares ``x * x`` (channels laid out as the
      width of a one-row image): MUL, PAD, RESHAPE, AVERAGE_POOL_2D. It costs 2r + 1
      additions per value, where a 1x1 convolution with a banded kernel would cost C
      multiply-adds;
    * the power is ``exp(-beta * log(bias + alpha * sum))``: LOG, MUL, EXP, finite for
      any beta since the argument is at least ``bias`` (with ``alpha >= 0``).

    int8 squares lose the smallest values, but these only move a factor that is close
    to 1 for the paper's alpha: a full-integer nn4 matches its Keras forward pass as
    closely as with a float LRN island.

    The layer has no weights.

    Args:
        depth_radius: half-width r of the channel window (window = 2r + 1 channels).
        bias: additive constant k, > 0 so the denominator never vanishes.
        alpha: scale of the windowed sum of squares.
        beta: exponent.

    Call args:
        inputs: float [N, H, W, C] (any rank works), C static.

    Returns:
        float, the shape of ``inputs``.
    """

    def __init__(
        self,
        depth_radius: int = 2,
        bias: float = 1.0,
        alpha: float = 1e-4 / 5,
        beta: float = 0.75,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(depth_radius) < 0:
            raise ValueError(f"depth_radius must be >= 0, got {depth_radius!r}")
        if not bias > 0:
            raise ValueError(f"bias must be positive, got {bias!r}")
        # === Config ===
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        channels = x.shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis (last) must have a known size")
        radius, window = self.depth_radius, 2 * self.depth_radius + 1
        squares = tf.pad(x * x, [[0, 0]] * (len(x.shape) - 1) + [[radius, radius]])
        rows = tf.reshape(squares, [-1, 1, channels + 2 * radius, 1])
        means = tf.reshape(tf.nn.avg_pool2d(rows, (1, window), 1, "VALID"), tf.shape(x))
        # alpha * sum = (alpha * window) * mean: one MUL, one rounding in int8.
        scale = ops.exp(-self.beta * ops.log(self.bias + (self.alpha * window) * means))
        return ops.cast(x * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "depth_radius": self.depth_radius,
                "bias": self.bias,
                "alpha": self.alpha,
                "beta": self.beta,
            }
        )
        return config
