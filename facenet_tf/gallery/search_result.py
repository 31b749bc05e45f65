"""``SearchResult``: the k nearest gallery faces of each query."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """The k nearest gallery faces of each of Q queries, nearest first.

    Attributes:
        ids: int64 [Q, k] gallery ids; -1 where an approximate index found fewer than k.
        labels: object [Q, k] labels (None where the id is -1).
        distances: float64 [Q, k] squared L2 between the L2-normalised query and stored
            vectors (``facenet_tf.distances.pair_distances``; for 8-bit kinds the stored
            vector is the decoded one); inf where the id is -1.
        sources: object [Q, k] sources recorded at ``add`` (file paths, or None).
    """

    ids: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)
