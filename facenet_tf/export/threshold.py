"""The recommended verification threshold: LFW view 1 DevTrain only.

LFW's terms allow view 1 (``pairsDevTrain.txt``) to pick parameters; view 2
(``pairs.txt``) is the benchmark and never chooses anything here. ``devtrain_evaluator``
refuses any multi-fold (view-2) file.

The pairs are scored by ``facenet_tf.eval.evaluator.PairEvaluator`` (squared L2 between
unit vectors, best-accuracy threshold), on faces made by the export face pipeline
(``facenet_tf.export.faces.face_inputs``) and embedded by the exported artefact itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike
# Exported-model inputs embedded per ``embed_fn`` call.
CHUNK = 256


def devtrain_evaluator(dev_train_pairs: PathLike, lfw_dir: PathLike):
    """A ``PairEvaluator`` of a view-1 pair file (``pairsDevTrain.txt``) on the LFW image
    tree ``lfw_dir``; a view-2 (multi-fold) file is rejected."""
    from facenet_tf.eval.evaluator import PairEvaluator
    from facenet_tf.eval.pairs import read_lfw_pairs

    pairs = read_lfw_pairs(dev_train_pairs)
    if pairs.num_folds != 1:
        raise InvalidInputError(
            f"{dev_train_pairs}: a {pairs.num_folds}-fold (view 2) pair list may not pick "
            "thresholds"
        )
    return PairEvaluator(pairs, lfw_dir)


def threshold_from_embeddings(evaluator, embeddings: np.ndarray) -> dict[str, Any]:
    """Best-accuracy squared-L2 threshold on the DevTrain pairs.

    Args:
        evaluator: ``devtrain_evaluator(...)`` (one fold).
        embeddings: float [K, D] unit vectors of ``evaluator.paths``.

    Returns:
        {"threshold": float, "devtrain_accuracy": float, "note": str}.
    """
    if evaluator.pairs.num_folds != 1:
        raise InvalidInputError(
            "threshold_from_embeddings: only view-1 DevTrain pairs pick thresholds"
        )
    scored = evaluator.score(np.asarray(embeddings, np.float64))
    acc = scored["accuracy"]
    return {
        "threshold": scored["threshold"],
        "devtrain_accuracy": acc,
        "note": f"best accuracy on {len(evaluator)} LFW view-1 DevTrain pairs: {100 * acc:.2f}%",
    }


def devtrain_threshold(
    embed_fn: Callable[[np.ndarray], np.ndarray],
    dev_train_pairs: PathLike,
    lfw_dir: PathLike,
    pipeline,
) -> dict[str, Any]:
    """Embeds the DevTrain images with ``embed_fn`` and picks the threshold.

    Args:
        embed_fn: uint8 [N, H, W, 3] -> float [N, D] (the exported artefact).
        dev_train_pairs: LFW view-1 ``pairsDevTrain.txt``.
        lfw_dir: the LFW image tree (``{Name}/{Name}_{NNNN}.jpg``).
        pipeline: the ``FacePipeline`` making its inputs
            (``facenet_tf.export.faces.export_pipeline``).

    Returns:
        As ``threshold_from_embeddings``, plus "no_face": the number of DevTrain images
        without a detected face (embedded whole, as ``facenet_tf.embed`` does).
    """
    from facenet_tf.export import faces

    evaluator = devtrain_evaluator(dev_train_pairs, lfw_dir)
    vectors, missing = [], 0
    for start in range(0, len(evaluator.paths), CHUNK):
        pixels, no_face = faces.face_inputs(evaluator.paths[start : start + CHUNK], pipeline)
        vectors.append(np.asarray(embed_fn(pixels), dtype=np.float32))
        missing += len(no_face)
    result = threshold_from_embeddings(evaluator, np.concatenate(vectors))
    result["no_face"] = missing
    return result
