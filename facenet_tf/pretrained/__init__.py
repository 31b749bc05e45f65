"""Pretrained weights: readers of foreign formats, converters and the on-disk cache.

Nothing here downloads: sources are files of locally installed packages (for example
dlib's ResNet from ``face-recognition-models``), converted once and cached under
``$FACENET_TF_HOME`` or ``~/.cache/facenet_tf``.
"""

from facenet_tf.pretrained.cache import ChecksumError, cache_home, weights_dir
from facenet_tf.pretrained.dlib_convert import load_dlib_resnet_weights
from facenet_tf.pretrained.dlib_reader import DlibFormatError, find_model_file, read_network

__all__ = [
    "ChecksumError",
    "DlibFormatError",
    "cache_home",
    "find_model_file",
    "load_dlib_resnet_weights",
    "read_network",
    "weights_dir",
]
