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
    sum fewer real values, exactly as a norm of the zero-extended map would.

    The windows are gathered on a new last axis (one strided slice per window offset)
    and the norm is computed as ``sum(w * w / sqrt(max(sum(w**2), epsilon)))``, i.e.
    ``<w, l2_normalize(w)>``, floored at ``sqrt(epsilon)``. In float this is
    ``sqrt(max(sum(w**2), epsilon))``; the form is chosen for full-integer TFLite, whose
    converter fuses the normalisation into its int8 L2_NORMALIZATION op (sum of squares
    in int32) and leaves MUL and SUM in the linear domain. Squaring into an int8 tensor
    instead (SQUARE has no int8 kernel; MUL, AVERAGE_POOL_2D and SQRT do) halves the
    dynamic range: every value below ~1/16 of the calibrated maximum squares to zero,
    which on an untrained nn4 takes the int8 embedding's cosine from 0.999 to 0.91. The
    cost is memory: the stacked windows are kh * kw times the size of the input.

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
        x = ops.cast(inputs, "float32")
        if self.padding == "same":
            pads = [
                _same_padding(size, k, s)
                for size, k, s in zip(
                    self._spatial_size(x), self.pool_size, self.strides, strict=True
                )
            ]
            x = tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
        height, width = self._spatial_size(x)
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
        windows = tf.stack(
            [
                x[:, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw, :]
                for i in range(kh)
                for j in range(kw)
            ],
            axis=-1,
        )
        out_shape = tf.shape(windows)[:-1]
        # L2_NORMALIZATION takes at most 4-D input: [N * H' * W', C, kh * kw].
        windows = tf.reshape(windows, [-1, windows.shape[-2] or out_shape[-1], kh * kw])
        sum_sq = ops.sum(ops.square(windows), axis=-1, keepdims=True)
        unit = windows * ops.rsqrt(ops.maximum(sum_sq, self.epsilon))
        norm = ops.maximum(ops.sum(windows * unit, axis=-1), self.epsilon**0.5)
        return ops.cast(tf.reshape(norm, out_shape), self.compute_dtype)

    @staticmethod
    def _spatial_size(x):
        """(height, width): static ints where known, scalar tensors otherwise."""
        return tuple(x.shape[a] if x.shape[a] is not None else tf.shape(x)[a] for a in (1, 2))

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
