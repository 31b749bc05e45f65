"""Reusable Keras layers and blocks shared by the model families."""

from facenet_tf.layers.conv_block import conv_bn_act
from facenet_tf.layers.inception import InceptionSpec, inception_module
from facenet_tf.layers.l2_pool import L2Pooling2D
from facenet_tf.layers.local_response_norm import LocalResponseNormalization
from facenet_tf.layers.maxout import Maxout
from facenet_tf.layers.pixel_normalization import PixelNormalization

__all__ = [
    "InceptionSpec",
    "L2Pooling2D",
    "LocalResponseNormalization",
    "Maxout",
    "PixelNormalization",
    "conv_bn_act",
    "inception_module",
]
