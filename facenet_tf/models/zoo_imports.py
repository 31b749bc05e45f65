"""Imports each model family module so that its builders register themselves."""

from facenet_tf.models import (  # noqa: F401
    dlib_resnet,
    inception_nn,
    inception_resnet_v1,
    mobilefacenet,
    nn1,
)
