"""Periodic validation on LFW view-1 DevTest pairs while training.

Only ``pairsDevTest.txt`` is meant for this (LFW's view 2, ``pairs.txt``, is the
benchmark and must not steer training). Images are prepared exactly like training faces
(``facenet_tf.data.ops.crop_and_resize`` of a normalised face box), embedded with the
model being trained, and scored by the best-threshold accuracy on squared L2 distances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from facenet_tf.data import ops
from facenet_tf.eval.pairs import lfw_image_path, read_lfw_pairs
from facenet_tf.eval.verification import best_accuracy_threshold, pair_distances

EmbedFn = Callable[[np.ndarray], np.ndarray]


class PairValidator:
    """Holds the prepared DevTest images; ``__call__(embed_fn)`` scores a model.

    Args:
        pairs_path: an LFW pair file (``pairsDevTest.txt``).
        images_dir: the LFW image tree it refers to.
        image_size: (height, width) of the model input.
        box: normalised (y1, x1, y2, x2) face region of the LFW images.
    """

    def __init__(
        self,
        pairs_path: str,
        images_dir: str,
        image_size: Sequence[int],
        box: Sequence[float] = ops.FULL_BOX,
    ):
        self.pairs = read_lfw_pairs(pairs_path)
        keys = self.pairs.image_keys()
        position = {key: i for i, key in enumerate(keys)}
        self.first = np.array([position[(p.name1, p.index1)] for p in self.pairs.pairs])
        self.second = np.array([position[(p.name2, p.index2)] for p in self.pairs.pairs])
        self.issame = np.array(self.pairs.issame, bool)
        prepare = tf.function(
            ops.compose(ops.decode(), ops.crop_and_resize(image_size, box), ops.clip_pixels())
        )
        images = []
        for name, index in keys:
            data = tf.io.read_file(str(lfw_image_path(images_dir, name, index)))
            image = prepare({"encoded": data})["image"]
            # uint8 keeps the cache small; values are rounded as a stored crop would be.
            images.append(tf.cast(tf.round(image), tf.uint8).numpy())
        self.images = np.stack(images)

    def __len__(self) -> int:
        return len(self.pairs)

    def __call__(self, embed_fn: EmbedFn, batch_size: int = 64) -> dict[str, float]:
        """Embeds the images and scores the pairs.

        Args:
            embed_fn: float32 [N, H, W, 3] pixels -> [N, D] embeddings; called with
                batches of exactly ``batch_size`` (the last one zero-padded) so compiled
                or TPU functions see one static shape.
            batch_size: images per call.

        Returns:
            ``{"accuracy", "threshold", "mean_distance_same", "mean_distance_different"}``.
        """
        n = len(self.images)
        chunks = []
        for start in range(0, n, batch_size):
            batch = self.images[start : start + batch_size].astype(np.float32)
            valid = len(batch)
            if valid < batch_size:
                pad = np.zeros((batch_size - valid, *batch.shape[1:]), np.float32)
                batch = np.concatenate([batch, pad])
            chunks.append(np.asarray(embed_fn(batch), np.float64)[:valid])
        embeddings = np.concatenate(chunks)
        d = pair_distances(embeddings[self.first], embeddings[self.second], "squared_l2")
        threshold, accuracy = best_accuracy_threshold(d, self.issame)
        return {
            "accuracy": float(accuracy),
            "threshold": float(threshold),
            "mean_distance_same": float(d[self.issame].mean()),
            "mean_distance_different": float(d[~self.issame].mean()),
        }
