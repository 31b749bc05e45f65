"""Reusable Keras layers shared by the model families."""

from facenet_tf.layers.pixel_normalization import PixelNormalization

__all__ = ["PixelNormalization"]
