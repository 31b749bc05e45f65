"""The one pair-verification evaluator (LFW protocol), inside training and alone.

``PairEvaluator`` holds an LFW-style pair file and its image tree. It embeds the images
it needs, by default through a ``FacePipeline`` (``facenet_tf.embed``'s code), and scores
the pairs: the k-fold protocol for view 2 (``pairs.txt``, 10 folds), the best-accuracy
threshold for one-fold files such as view 1. The evaluation binary, training validation,
export parity and the LFW benchmarks all use it, so their figures describe the same code.
Cross-model pairs (the first image of each pair embedded by one model, the second by
another, as harmonic models are compared) are scored by handing both models' vectors of
the images to ``score(embeddings, second)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.distances import pair_distances
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import verification
from facenet_tf.eval.pairs import PairList, lfw_image_path, read_lfw_pairs

# float32 [N, H, W, 3] model inputs -> [N, D] vectors (e.g. a model under training).
CropsFn = Callable[[np.ndarray], np.ndarray]


class PairEvaluator:
    """Verification on the pairs of one file.

    Args:
        pairs: a pair file (``pairs.txt``, ``pairsDevTrain.txt``, ...) or a ``PairList``.
        images_dir: the image tree it refers to (``{Name}/{Name}_{NNNN}.jpg``).
        distance: pair distance (``facenet_tf.distances``); squared L2 by default.
        far_target: false-accept rate for VAL in the k-fold protocol.
    """

    def __init__(
        self,
        pairs: str | Path | PairList,
        images_dir: str | Path,
        *,
        distance: str = "squared_l2",
        far_target: float = 1e-3,
    ):
        self.pairs = pairs if isinstance(pairs, PairList) else read_lfw_pairs(pairs)
        self.images_dir = Path(images_dir)
        self.distance = distance
        self.far_target = far_target
        self.keys = self.pairs.image_keys()
        position = {key: i for i, key in enumerate(self.keys)}
        self.first = np.array([position[(p.name1, p.index1)] for p in self.pairs.pairs])
        self.second = np.array([position[(p.name2, p.index2)] for p in self.pairs.pairs])
        self.issame = np.array(self.pairs.issame, bool)
        self.paths = [lfw_image_path(self.images_dir, n, i) for n, i in self.keys]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise InvalidInputError(
                f"images_dir: {len(missing)} image(s) named by the pairs are missing, "
                f"e.g. {missing[:3]}"
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def embed(self, pipeline: Any) -> np.ndarray:
        """Embeds the images of the pairs with a ``FacePipeline``: float32 [K, D]."""
        return pipeline.embed([str(p) for p in self.paths])

    def crops(self, pipeline: Any) -> np.ndarray:
        """The pipeline's model inputs for the images: float32 [K, H, W, 3]."""
        return pipeline.crops([str(p) for p in self.paths]).pixels

    def distances(self, embeddings: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
        """Pair distances float64 [P] from the images' embeddings [K, D].

        Args:
            embeddings: [K, D] vectors of the images, in ``keys`` order.
            second: [K, D] another model's vectors of the same images: the second image
                of every pair is taken from it (cross-model pairs); None: `embeddings`.
        """
        emb = self._rows(embeddings, "embeddings")
        other = emb if second is None else self._rows(second, "second")
        return pair_distances(emb[self.first], other[self.second], self.distance)

    def _rows(self, embeddings: np.ndarray, name: str) -> np.ndarray:
        emb = np.asarray(embeddings)
        if emb.ndim != 2 or emb.shape[0] != len(self.keys):
            raise InvalidInputError(
                f"{name}: {emb.shape} for the {len(self.keys)} images of the pairs "
                "(one row per image)"
            )
        return emb

    def kfold(
        self, embeddings: np.ndarray, second: np.ndarray | None = None
    ) -> verification.VerificationResult:
        """The k-fold protocol over the file's folds (thresholds from the other folds)."""
        return verification.kfold_verification(
            self.distances(embeddings, second), self.issame, self.pairs.folds, self.far_target
        )

    def score(self, embeddings: np.ndarray, second: np.ndarray | None = None) -> dict[str, Any]:
        """Scores the pairs from the images' embeddings [K, D] (and, for cross-model pairs,
        the second model's vectors `second` [K, D] of the same images; see `distances`).

        Returns:
            For a file with several folds, ``VerificationResult.to_dict()`` of the k-fold
            protocol (``accuracy_mean``, ``accuracy_std``, ``val_mean``, ``auc``, ...);
            for one fold, ``accuracy`` and ``threshold`` of the best-accuracy threshold.
            Both have ``mean_distance_same`` and ``mean_distance_different``.
        """
        d = self.distances(embeddings, second)
        out: dict[str, Any]
        if self.pairs.num_folds > 1:
            out = verification.kfold_verification(
                d, self.issame, self.pairs.folds, self.far_target
            ).to_dict()
        else:
            threshold, accuracy = verification.best_accuracy_threshold(d, self.issame)
            out = {"accuracy": float(accuracy), "threshold": float(threshold)}
        out["mean_distance_same"] = float(d[self.issame].mean())
        out["mean_distance_different"] = float(d[~self.issame].mean())
        return out

    def __call__(self, pipeline: Any) -> dict[str, Any]:
        """Embeds through ``pipeline`` and scores (see ``score``)."""
        return self.score(self.embed(pipeline))


class CropEvaluator:
    """A ``PairEvaluator`` whose pipeline crops are prepared once, for repeated scoring of
    a model that changes (training validation).

    Args:
        evaluator: the pairs to score.
        pipeline: a ``FacePipeline`` of the model's spec; only its crops are used.
    """

    def __init__(self, evaluator: PairEvaluator, pipeline: Any):
        self.evaluator = evaluator
        self.pixels = evaluator.crops(pipeline)

    def __len__(self) -> int:
        return len(self.evaluator)

    def __call__(self, embed_fn: CropsFn, batch_size: int = 64) -> dict[str, Any]:
        """Embeds the prepared crops with ``embed_fn`` and scores the pairs.

        Args:
            embed_fn: float32 [B, H, W, 3] -> [B, D]; called with batches of exactly
                ``batch_size`` (the last one zero-padded) so compiled or TPU functions
                see one static shape.
            batch_size: crops per call.
        """
        chunks = []
        for start in range(0, len(self.pixels), batch_size):
            batch = self.pixels[start : start + batch_size]
            valid = len(batch)
            if valid < batch_size:
                pad = np.zeros((batch_size - valid, *batch.shape[1:]), np.float32)
                batch = np.concatenate([batch, pad])
            chunks.append(np.asarray(embed_fn(batch), np.float64)[:valid])
        return self.evaluator.score(np.concatenate(chunks))
