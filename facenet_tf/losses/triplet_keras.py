"""Keras `Loss` wrappers of the triplet losses, for ``model.compile(loss=...)``.

``y_true`` is int identity labels [B] (or [B, 1]) and ``y_pred`` the embeddings [B, D].
Each loss is already a batch-level scalar, so ``sample_weight`` is refused and
``reduction`` has no effect (it is kept for Keras' config round trip).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from facenet_tf.distances import canonical_distance
from facenet_tf.errors import InvalidInputError
from facenet_tf.losses.triplet import (
    DEFAULT_MARGIN,
    triplet_batch_all_loss,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
)


class _TripletLoss(keras.losses.Loss):
    """Shared plumbing: labels are not cast to float, no per-sample weighting."""

    def __init__(
        self,
        margin: float,
        distance: str,
        name: str | None,
        reduction: str | None,
    ):
        super().__init__(name=name, reduction=reduction)
        self.margin = float(margin)
        self.distance = canonical_distance(distance)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # keras.losses.Loss.__call__ would cast the int labels to float32, which merges
        # identities above 2**24; the triplet functions handle dtypes themselves.
        if sample_weight is not None:
            raise InvalidInputError(
                f"{type(self).__name__} is a batch-level loss; sample_weight is not supported"
            )
        with tf.name_scope(self.name):
            return self.call(y_true, y_pred)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"margin": self.margin, "distance": self.distance})
        return config


@keras.saving.register_keras_serializable(package="facenet_tf")
class TripletSemiHardLoss(_TripletLoss):
    """FaceNet triplet loss with semi-hard mining; see `triplet_semihard_loss`.

    Args:
        margin: alpha (0.2 in the paper, on squared L2 distances of unit vectors).
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); TF Addons
            spellings accepted (``facenet_tf.distances.canonical_distance``).
        name: loss name.
        reduction: ignored (the loss is already a scalar); kept for Keras configs.
    """

    def __init__(
        self,
        margin: float = DEFAULT_MARGIN,
        distance: str = "squared_l2",
        name: str | None = "triplet_semihard_loss",
        reduction: str | None = "sum_over_batch_size",
    ):
        super().__init__(margin, distance, name, reduction)

    def call(self, y_true, y_pred) -> tf.Tensor:
        return triplet_semihard_loss(y_true, y_pred, self.margin, self.distance)


@keras.saving.register_keras_serializable(package="facenet_tf")
class TripletBatchHardLoss(_TripletLoss):
    """Batch-hard triplet loss (Hermans et al. 2017); see `triplet_batch_hard_loss`.

    Args:
        margin: margin of the hinge (unused when `soft`).
        soft: soft-margin variant log1p(exp(d_ap - d_an)).
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); TF Addons
            spellings accepted (``facenet_tf.distances.canonical_distance``).
        name: loss name.
        reduction: ignored (the loss is already a scalar); kept for Keras configs.
    """

    def __init__(
        self,
        margin: float = DEFAULT_MARGIN,
        soft: bool = False,
        distance: str = "squared_l2",
        name: str | None = "triplet_batch_hard_loss",
        reduction: str | None = "sum_over_batch_size",
    ):
        super().__init__(margin, distance, name, reduction)
        self.soft = bool(soft)

    def call(self, y_true, y_pred) -> tf.Tensor:
        return triplet_batch_hard_loss(y_true, y_pred, self.margin, self.soft, self.distance)

    def get_config(self) -> dict:
        config = super().get_config()
        config["soft"] = self.soft
        return config


@keras.saving.register_keras_serializable(package="facenet_tf")
class TripletBatchAllLoss(_TripletLoss):
    """Batch-all triplet loss over active triplets; see `triplet_batch_all_loss`.

    Args:
        margin: margin of the hinge.
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); TF Addons
            spellings accepted (``facenet_tf.distances.canonical_distance``).
        name: loss name.
        reduction: ignored (the loss is already a scalar); kept for Keras configs.
    """

    def __init__(
        self,
        margin: float = DEFAULT_MARGIN,
        distance: str = "squared_l2",
        name: str | None = "triplet_batch_all_loss",
        reduction: str | None = "sum_over_batch_size",
    ):
        super().__init__(margin, distance, name, reduction)

    def call(self, y_true, y_pred) -> tf.Tensor:
        return triplet_batch_all_loss(y_true, y_pred, self.margin, self.distance)
