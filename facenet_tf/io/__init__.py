"""Image input shared by embed, detect and the binaries."""

from facenet_tf.io.images import read_image, to_rgb_float32, to_rgb_uint8

__all__ = ["read_image", "to_rgb_float32", "to_rgb_uint8"]
