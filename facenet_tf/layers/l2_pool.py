"""L2 pooling: the spatial L2 norm of each pooling window (FaceNet Table 2, "L2")."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def _same_padding(size, kernel: int, stride: int):
    """TensorFlow's "same" padding (before, after) for a static int or dynamic size."""
    out = (size + stride - 1) // stride
    total = (out - 1) * stride + kernel - size
    total = max(total, 0) if isinstance(total, int) else tf.maximum(total, 0)
    return total // 2, total - total // 2


def _pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        pair = (value, value)
    else:
        pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair


@keras.saving.register_keras_serializable(package="facenet_tf")
class L2Pooling2D(keras.layers.Layer):
    """Per-channel L2 norm over each pooling window: ``sqrt(sum_{window} x**2)``.

    The FaceNet paper's NN2 uses "L2 pooling (spatial L2 norm instead of max)". The
    window sum is taken over zero-padded input (``padding="same"``), so border windows
    sum fewer real values, exactly as a norm of the zero-extended map would. The sum is
    computed as explicit zero padding, a "valid" average pool and a multiplication by
    the window area (TensorFlow's "same" average pool would divide border windows by
    their count of real values instead); all three export to TFLite as builtin ops.

    The square root is zero-safe: windows whose sum of squares is below ``epsilon``
    (all-zero windows are common after ReLU) output ``sqrt(epsilon)`` and pass no
    gradient, instead of the infinite gradient of ``sqrt`` at 0. The computation runs in
    float32 whatever the compute dtype, because ``epsilon`` underflows in float16.

    Args:
        pool_size: window (height, width), or one int for both.
        strides: step (height, width), or one int for both.
        padding: ``"same"`` or ``"valid"``.
        epsilon: floor on the window's sum of squares before the square root.

    Call args:
        inputs: float [N, H, W, C].

    Returns:
        float [N, H', W', C] with H' = ceil(H / stride) for ``"same"`` padding and
        floor((H - pool) / stride) + 1 for ``"valid"``; values >= sqrt(epsilon).
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 3,
        strides: int | tuple[int, int] = 1,
        padding: str = "same",
        epsilon: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        # === Config ===
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.square(ops.cast(inputs, "float32"))
        if self.padding == "same":
            height = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]
            width = x.shape[2] if x.shape[2] is not None else tf.shape(x)[2]
            pads = [
                _same_padding(size, k, s)
                for size, k, s in zip((height, width), self.pool_size, self.strides, strict=True)
            ]
            x = tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
        area = self.pool_size[0] * self.pool_size[1]
        sum_sq = tf.nn.avg_pool2d(x, self.pool_size, self.strides, "VALID") * float(area)
        out = ops.sqrt(ops.maximum(sum_sq, self.epsilon))
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        out = []
        for size, k, s in zip((h, w), self.pool_size, self.strides, strict=True):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append((size + s - 1) // s)
            else:
                out.append((size - k) // s + 1)
        return (n, out[0], out[1], c)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "pool_size": list(self.pool_size),
                "strides": list(self.strides),
                "padding": self.padding,
                "epsilon": self.epsilon,
            }
        )
        return config
