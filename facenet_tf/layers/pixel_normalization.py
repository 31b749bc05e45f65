"""Per-channel pixel normalisation, the first layer of every registered model."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="facenet_tf")
class PixelNormalization(keras.layers.Layer):
    """Maps RGB pixel values in [0, 255] to ``(x - mean) * scale``, per channel.

    Keeping this inside the model means ``.keras`` files, SavedModels and TFLite files
    all carry their own preprocessing: callers only ever feed raw pixels.

    Args:
        mean: per-channel (R, G, B) offsets, or one number for all channels.
        scale: per-channel multipliers, or one number for all channels.

    Call args:
        inputs: float [N, H, W, 3] pixel values in [0, 255].

    Returns:
        float [N, H, W, 3] in the layer's compute dtype.
    """

    def __init__(
        self,
        mean: float | Sequence[float] = 127.5,
        scale: float | Sequence[float] = 1.0 / 128.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.mean = [float(v) for v in mean] if isinstance(mean, Sequence) else float(mean)
        self.scale = [float(v) for v in scale] if isinstance(scale, Sequence) else float(scale)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        mean = ops.cast(ops.convert_to_tensor(self.mean), self.compute_dtype)
        scale = ops.cast(ops.convert_to_tensor(self.scale), self.compute_dtype)
        return (x - mean) * scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"mean": self.mean, "scale": self.scale})
        return config
