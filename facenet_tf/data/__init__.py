"""Training data: folder trees and TFRecord shards, P x K sampling, tf.data augmentation."""

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

__all__ = [
    "AugmentConfig",
    "IdentityTable",
    "ImageIndex",
    "ReplicaLayout",
    "augment_op",
    "build_identity_table",
    "folder_pk_dataset",
    "pk_index_dataset",
    "sample_pk",
    "scan_folder_tree",
    "tfrecord_pk_dataset",
    "to_keras",
]
