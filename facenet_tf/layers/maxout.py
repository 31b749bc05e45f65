"""Maxout units (Goodfellow et al., 2013), used by NN1's fully connected layers."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="facenet_tf")
class Maxout(keras.layers.Layer):
    """Max over groups of ``num_pieces`` consecutive features of the last axis.

    Output unit j is ``max(x[..., j*p], ..., x[..., j*p + p - 1])`` with p = num_pieces,
    so a ``Dense(units * p)`` followed by ``Maxout(p)`` is a maxout layer of ``units``
    units (the paper's "maxout p=2").

    Args:
        num_pieces: p, the number of linear pieces per unit.

    Call args:
        inputs: float [..., C] with C divisible by ``num_pieces``.

    Returns:
        float [..., C // num_pieces].
    """

    def __init__(self, num_pieces: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(num_pieces) < 1:
            raise ValueError(f"num_pieces must be >= 1, got {num_pieces!r}")
        # === Config ===
        self.num_pieces = int(num_pieces)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.num_pieces:
            raise ValueError(
                f"Maxout {self.name!r}: last axis ({channels}) must be a known multiple of "
                f"num_pieces ({self.num_pieces})"
            )

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        grouped = ops.reshape(inputs, (*shape[:-1], channels // self.num_pieces, self.num_pieces))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.num_pieces)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"num_pieces": self.num_pieces})
        return config
