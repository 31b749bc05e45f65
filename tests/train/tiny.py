"""A tiny embedding model following the model convention, for fast training tests."""

from __future__ import annotations

import keras

from facenet_tf.layers import PixelNormalization
from facenet_tf.models.heads import embedding_head

TINY_SIZE = 24


def tiny_model(size: int = TINY_SIZE, embedding_dim: int = 8) -> keras.Model:
    """Pixels [N, size, size, 3] in [0, 255] -> unit vectors [N, embedding_dim].

    No batch normalisation or dropout: its training step is a pure function of weights
    and batch, so single-device, mirrored and multi-worker runs can be compared exactly.
    """
    x = inputs = keras.Input((size, size, 3))
    x = PixelNormalization()(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, embedding_head(x, embedding_dim), name="tiny")
