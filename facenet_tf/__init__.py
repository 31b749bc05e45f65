"""facenet-tf: FaceNet (Schroff, Kalenichenko, Philbin, CVPR 2015) in TensorFlow 2 / Keras 3.

Public API::

    vectors = facenet_tf.embed(images)             # float32 [N, 128] unit vectors
    same, d = facenet_tf.verify("a.jpg", "b.jpg")  # squared-L2 threshold decision
    facenet_tf.identify(queries, gallery, labels)  # k-NN with an "unknown" answer
    facenet_tf.cluster(images)                     # agglomerative; kNN graph above 5k

The names load on first use (PEP 562), so ``import facenet_tf.cli`` (``facenet-tf
--help``) and the error classes do not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (``align`` is the callable package itself).
_EXPORTS = {
    "align": "facenet_tf.align",
    "align_faces": "facenet_tf.align",
    "detect": "facenet_tf.align",
    "FaceNetError": "facenet_tf.errors",
    "GalleryError": "facenet_tf.errors",
    "ImageReadError": "facenet_tf.errors",
    "ImageTooLargeError": "facenet_tf.errors",
    "InvalidInputError": "facenet_tf.errors",
    "InvalidInputTypeError": "facenet_tf.errors",
    "ModelNotFoundError": "facenet_tf.errors",
    "NoFaceError": "facenet_tf.errors",
    "TemplateMismatchError": "facenet_tf.errors",
    "UntrainedModelError": "facenet_tf.errors",
    "FaceEmbedding": "facenet_tf.face_pipeline",
    "FaceNotFoundWarning": "facenet_tf.face_pipeline",
    "FacePipeline": "facenet_tf.face_pipeline",
    "TemplateUnknownWarning": "facenet_tf.face_pipeline",
    "Gallery": "facenet_tf.gallery",
    "SearchResult": "facenet_tf.gallery",
    "Embedder": "facenet_tf.inference",
    "distance": "facenet_tf.inference",
    "embed": "facenet_tf.inference",
    "get_embedder": "facenet_tf.inference",
    "load_model": "facenet_tf.inference",
    "read_image": "facenet_tf.io.images",
    "TripletBatchAllLoss": "facenet_tf.losses",
    "TripletBatchHardLoss": "facenet_tf.losses",
    "TripletSemiHardLoss": "facenet_tf.losses",
    "triplet_batch_all_loss": "facenet_tf.losses",
    "triplet_batch_hard_loss": "facenet_tf.losses",
    "triplet_semihard_loss": "facenet_tf.losses",
    "triplet_semihard_stats": "facenet_tf.losses",
    "create_model": "facenet_tf.models.registry",
    "default_model_name": "facenet_tf.models.registry",
    "get_model_info": "facenet_tf.models.registry",
    "list_models": "facenet_tf.models.registry",
    "register_model": "facenet_tf.models.registry",
    "ModelSpec": "facenet_tf.models.spec",
    "model_spec": "facenet_tf.models.spec",
    "cluster": "facenet_tf.tasks",
    "default_threshold": "facenet_tf.tasks",
    "identify": "facenet_tf.tasks",
    "verify": "facenet_tf.tasks",
}

__all__ = [
    "Embedder",
    "FaceEmbedding",
    "FaceNetError",
    "FaceNotFoundWarning",
    "FacePipeline",
    "Gallery",
    "GalleryError",
    "ImageReadError",
    "ImageTooLargeError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "ModelNotFoundError",
    "ModelSpec",
    "NoFaceError",
    "SearchResult",
    "TemplateMismatchError",
    "TemplateUnknownWarning",
    "TripletBatchAllLoss",
    "TripletBatchHardLoss",
    "TripletSemiHardLoss",
    "UntrainedModelError",
    "__version__",
    "align",
    "align_faces",
    "cluster",
    "create_model",
    "default_model_name",
    "default_threshold",
    "detect",
    "distance",
    "embed",
    "get_embedder",
    "get_model_info",
    "identify",
    "list_models",
    "load_model",
    "model_spec",
    "read_image",
    "register_model",
    "triplet_batch_all_loss",
    "triplet_batch_hard_loss",
    "triplet_semihard_loss",
    "triplet_semihard_stats",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'facenet_tf' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"facenet_tf.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from facenet_tf import align
    from facenet_tf.align import align_faces, detect
    from facenet_tf.errors import (
        FaceNetError,
        GalleryError,
        ImageReadError,
        ImageTooLargeError,
        InvalidInputError,
        InvalidInputTypeError,
        ModelNotFoundError,
        NoFaceError,
        TemplateMismatchError,
        UntrainedModelError,
    )
    from facenet_tf.face_pipeline import (
        FaceEmbedding,
        FaceNotFoundWarning,
        FacePipeline,
        TemplateUnknownWarning,
    )
    from facenet_tf.gallery import Gallery, SearchResult
    from facenet_tf.inference import Embedder, distance, embed, get_embedder, load_model
    from facenet_tf.io.images import read_image
    from facenet_tf.losses import (
        TripletBatchAllLoss,
        TripletBatchHardLoss,
        TripletSemiHardLoss,
        triplet_batch_all_loss,
        triplet_batch_hard_loss,
        triplet_semihard_loss,
        triplet_semihard_stats,
    )
    from facenet_tf.models.registry import (
        create_model,
        default_model_name,
        get_model_info,
        list_models,
        register_model,
    )
    from facenet_tf.models.spec import ModelSpec, model_spec
    from facenet_tf.tasks import cluster, default_threshold, identify, verify
