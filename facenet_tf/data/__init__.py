"""Training data: folder trees and TFRecord shards, P x K sampling, tf.data augmentation;
``read_embeddings`` reads embedding outputs (``facenet_tf.data.embeddings_io``).

``read_embeddings`` and ``EmbeddingRecords`` are loaded on first use (PEP 562).
"""

from facenet_tf.data.folder import ImageIndex, scan_folder_tree
from facenet_tf.data.pipeline import (
    AugmentConfig,
    ReplicaLayout,
    augment_op,
    folder_pk_dataset,
    pk_index_dataset,
    tfrecord_pk_dataset,
    to_keras,
)
from facenet_tf.data.sampler import IdentityTable, build_identity_table, sample_pk

_LAZY = {"EmbeddingRecords", "read_embeddings"}

__all__ = [
    "AugmentConfig",
    "EmbeddingRecords",
    "IdentityTable",
    "ImageIndex",
    "ReplicaLayout",
    "augment_op",
    "build_identity_table",
    "folder_pk_dataset",
    "pk_index_dataset",
    "read_embeddings",
    "sample_pk",
    "scan_folder_tree",
    "tfrecord_pk_dataset",
    "to_keras",
]


def __getattr__(name: str):
    if name in _LAZY:
        from facenet_tf.data import embeddings_io

        return getattr(embeddings_io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
