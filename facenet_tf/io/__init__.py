"""Image input shared by embed, detect and the binaries."""

from facenet_tf.io.files import IMAGE_SUFFIXES, list_images
from facenet_tf.io.images import read_image, to_rgb_float32, to_rgb_uint8

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_image", "to_rgb_float32", "to_rgb_uint8"]
