"""Imports each model family module so that its builders register themselves."""

import importlib

_FAMILIES = (
    "facenet_tf.models.nn1",
    "facenet_tf.models.inception_nn",
    "facenet_tf.models.inception_resnet_v1",
    "facenet_tf.models.mobilefacenet",
    "facenet_tf.models.dlib_resnet",
)

for _module in _FAMILIES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as err:  # a family still being written is simply absent
        if err.name != _module:
            raise
