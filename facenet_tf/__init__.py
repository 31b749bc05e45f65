"""facenet-tf: FaceNet (Schroff, Kalenichenko, Philbin, CVPR 2015) in TensorFlow 2 / Keras 3.

Public API::

    vectors = facenet_tf.embed(images)             # float32 [N, 128] unit vectors
    same, d = facenet_tf.verify("a.jpg", "b.jpg")  # squared-L2 threshold decision
    facenet_tf.identify(queries, gallery, labels)  # k-NN with an "unknown" answer
    facenet_tf.cluster(images)                     # agglomerative by default
"""

__version__ = "0.1.0"

from facenet_tf import align  # noqa: E402  (callable: facenet_tf.align(image, template=...))
from facenet_tf.align import align_faces, detect  # noqa: E402
from facenet_tf.errors import (  # noqa: E402
    FaceNetError,
    ImageReadError,
    ImageTooLargeError,
    InvalidInputError,
    InvalidInputTypeError,
    ModelNotFoundError,
    NoFaceError,
)
from facenet_tf.face_pipeline import FaceEmbedding, FaceNotFoundWarning, FacePipeline  # noqa: E402
from facenet_tf.inference import (  # noqa: E402
    Embedder,
    distance,
    embed,
    get_embedder,
    load_model,
)
from facenet_tf.io.images import read_image  # noqa: E402
from facenet_tf.losses import (  # noqa: E402
    TripletBatchAllLoss,
    TripletBatchHardLoss,
    TripletSemiHardLoss,
    triplet_batch_all_loss,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
    triplet_semihard_stats,
)
from facenet_tf.models.registry import (  # noqa: E402
    create_model,
    default_model_name,
    get_model_info,
    list_models,
    register_model,
)
from facenet_tf.models.spec import ModelSpec, model_spec  # noqa: E402
from facenet_tf.tasks import cluster, default_threshold, identify, verify  # noqa: E402

__all__ = [
    "Embedder",
    "FaceEmbedding",
    "FaceNetError",
    "FaceNotFoundWarning",
    "FacePipeline",
    "ImageReadError",
    "ImageTooLargeError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "ModelNotFoundError",
    "ModelSpec",
    "NoFaceError",
    "TripletBatchAllLoss",
    "TripletBatchHardLoss",
    "TripletSemiHardLoss",
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
