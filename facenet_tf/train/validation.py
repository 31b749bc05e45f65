"""Periodic validation on LFW view-1 DevTest pairs while training.

Only ``pairsDevTest.txt`` is meant for this (LFW's view 2, ``pairs.txt``, is the
benchmark and must not steer training). The photos go through the face pipeline built
for the model being trained (its template and input size), once; the evaluation's
``PairEvaluator`` then scores the model's embeddings of those crops with the
best-accuracy threshold on squared L2 distances, as the evaluation binary would.
"""

from __future__ import annotations

import keras

from facenet_tf.eval.evaluator import CropEvaluator, PairEvaluator
from facenet_tf.face_pipeline import FacePipeline


def make_validator(pairs_path: str, images_dir: str, model: keras.Model) -> CropEvaluator:
    """The DevTest evaluator of a model under training.

    Args:
        pairs_path: an LFW pair file (``pairsDevTest.txt``).
        images_dir: the raw LFW image tree it refers to.
        model: the Keras model being trained (its spec decides the crops).

    Returns:
        A ``CropEvaluator``: ``validator(embed_fn, batch_size)`` embeds the prepared
        float32 [N, H, W, 3] crops with ``embed_fn`` and returns ``accuracy``,
        ``threshold``, ``mean_distance_same`` and ``mean_distance_different``.
    """
    # A photo without a detectable face is embedded whole: validation needs a vector for
    # every image of the pairs (LFW DevTest has none without a face).
    pipeline = FacePipeline(model, flip=False, on_no_face="whole_image")
    return CropEvaluator(PairEvaluator(pairs_path, images_dir), pipeline)
