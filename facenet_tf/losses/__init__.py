"""Metric-learning losses: FaceNet's triplet loss, its batch-hard / batch-all variants, and
the harmonic (cross-model compatibility) loss."""

from facenet_tf.losses.distances import (
    angular_distances,
    l2_distances,
    pairwise_distances,
    squared_l2_distances,
)
from facenet_tf.losses.distributed import all_gather_batch, replica_triplet_loss
from facenet_tf.losses.harmonic import harmonic_loss, harmonic_stats
from facenet_tf.losses.triplet import (
    DEFAULT_MARGIN,
    triplet_batch_all_loss,
    triplet_batch_all_stats,
    triplet_batch_hard_loss,
    triplet_batch_hard_stats,
    triplet_semihard_loss,
    triplet_semihard_stats,
)
from facenet_tf.losses.triplet_keras import (
    TripletBatchAllLoss,
    TripletBatchHardLoss,
    TripletSemiHardLoss,
)

__all__ = [
    "DEFAULT_MARGIN",
    "TripletBatchAllLoss",
    "TripletBatchHardLoss",
    "TripletSemiHardLoss",
    "all_gather_batch",
    "angular_distances",
    "harmonic_loss",
    "harmonic_stats",
    "l2_distances",
    "pairwise_distances",
    "replica_triplet_loss",
    "squared_l2_distances",
    "triplet_batch_all_loss",
    "triplet_batch_all_stats",
    "triplet_batch_hard_loss",
    "triplet_batch_hard_stats",
    "triplet_semihard_loss",
    "triplet_semihard_stats",
]
