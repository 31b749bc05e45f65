"""The recommended verification threshold: LFW view 1 DevTrain only.

LFW's terms allow view 1 (``pairsDevTrain.txt``) to pick parameters; view 2
(``pairs.txt``) is the benchmark and never chooses anything here. ``devtrain_pairs``
refuses any multi-fold (view-2) file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike
DEVTRAIN_FILE = "pairsDevTrain.txt"
LFW_IMAGES = "lfw-deepfunneled"


def devtrain_pairs(lfw_dir: PathLike):
    """Parses ``lfw_dir/pairsDevTrain.txt``; a view-2 file is rejected."""
    from facenet_tf.eval.pairs import read_lfw_pairs

    path = Path(lfw_dir) / DEVTRAIN_FILE
    pairs = read_lfw_pairs(path)
    if pairs.num_folds != 1:
        raise InvalidInputError(
            f"{path}: a {pairs.num_folds}-fold (view 2) pair list may not pick thresholds"
        )
    return pairs


def pair_squared_l2(
    embeddings: dict[tuple[str, int], np.ndarray], pairs
) -> tuple[np.ndarray, np.ndarray]:
    """Squared L2 distances of L2-normalised embeddings for every pair.

    Args:
        embeddings: float [D] per (name, index) image key.
        pairs: a ``facenet_tf.eval.pairs.PairList``.

    Returns:
        (float64 [P] distances, bool [P] issame).
    """
    from facenet_tf.eval.verification import pair_distances

    a = np.stack([embeddings[(p.name1, p.index1)] for p in pairs.pairs])
    b = np.stack([embeddings[(p.name2, p.index2)] for p in pairs.pairs])
    return pair_distances(a, b, "squared_l2"), np.asarray(pairs.issame, dtype=bool)


def threshold_from_embeddings(
    embeddings: dict[tuple[str, int], np.ndarray], pairs
) -> dict[str, Any]:
    """Best-accuracy squared-L2 threshold on the DevTrain pairs.

    Returns:
        {"threshold": float, "devtrain_accuracy": float, "note": str}.
    """
    from facenet_tf.eval.verification import best_accuracy_threshold

    if pairs.num_folds != 1:
        raise InvalidInputError(
            "threshold_from_embeddings: only view-1 DevTrain pairs pick thresholds"
        )
    distances, issame = pair_squared_l2(embeddings, pairs)
    thr, acc = best_accuracy_threshold(distances, issame)
    return {
        "threshold": float(thr),
        "devtrain_accuracy": float(acc),
        "note": f"best accuracy on {len(pairs)} LFW view-1 DevTrain pairs: {100 * acc:.2f}%",
    }


def devtrain_threshold(
    embed_fn: Callable[[np.ndarray], np.ndarray],
    lfw_dir: PathLike,
    input_size: tuple[int, int],
    template: str | None,
    method: str = "box",
) -> dict[str, Any]:
    """Embeds the DevTrain images with ``embed_fn`` and picks the threshold.

    Args:
        embed_fn: uint8 [N, H, W, 3] -> float [N, D].
        lfw_dir: folder holding ``pairsDevTrain.txt`` and ``lfw-deepfunneled/``.
        input_size: (H, W) of the model.
        template: the model's alignment template.
        method: crop method (``export.faces.load_face_crops``).
    """
    from export import faces
    from facenet_tf.eval.pairs import lfw_image_path

    pairs = devtrain_pairs(lfw_dir)
    keys = pairs.image_keys()
    paths = [lfw_image_path(Path(lfw_dir) / LFW_IMAGES, n, i) for n, i in keys]
    vectors = []
    for start in range(0, len(paths), 256):
        crops = faces.load_face_crops(
            paths[start : start + 256], input_size, template=template, method=method
        )
        vectors.append(np.asarray(embed_fn(crops), dtype=np.float32))
    table = dict(zip(keys, np.concatenate(vectors), strict=True))
    return threshold_from_embeddings(table, pairs)
