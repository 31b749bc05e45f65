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
    convention converted to TensorFlow's, ``alpha = 1e-4 / 5``. It wraps
    ``tf.nn.local_response_normalization`` so that TFLite exports it as its builtin
    ``LOCAL_RESPONSE_NORMALIZATION`` op; the computation runs in float32.

    Args:
        depth_radius: half-width r of the channel window (window = 2r + 1 channels).
        bias: additive constant k, > 0 so the denominator never vanishes.
        alpha: scale of the windowed sum of squares.
        beta: exponent.

    Call args:
        inputs: float [N, H, W, C].

    Returns:
        float [N, H, W, C].
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
        out = tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return ops.cast(out, self.compute_dtype)

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
