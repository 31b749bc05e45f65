"""Model zoo. Importing this package registers every built-in model family."""

from facenet_tf.models.registry import (
    ModelInfo,
    create_model,
    default_model_name,
    get_model_info,
    list_models,
    register_model,
)

# Model families register themselves on import; keep this list in sync with the files.
from facenet_tf.models import zoo_imports  # noqa: F401,E402  isort: skip

__all__ = [
    "ModelInfo",
    "create_model",
    "default_model_name",
    "get_model_info",
    "list_models",
    "register_model",
]
