"""facenet-tf: FaceNet (Schroff, Kalenichenko, Philbin, CVPR 2015) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"

from facenet_tf.errors import (  # noqa: E402
    FaceNetError,
    ImageReadError,
    ImageTooLargeError,
    InvalidInputError,
    InvalidInputTypeError,
    ModelNotFoundError,
    NoFaceError,
)
from facenet_tf.models.registry import create_model, get_model_info, list_models  # noqa: E402

__all__ = [
    "FaceNetError",
    "ImageReadError",
    "ImageTooLargeError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "ModelNotFoundError",
    "NoFaceError",
    "__version__",
    "create_model",
    "get_model_info",
    "list_models",
]
