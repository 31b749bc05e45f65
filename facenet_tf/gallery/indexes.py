"""The faiss indexes under a gallery: kinds, building and training, removal, search.

Kinds (``Gallery.create(index=...)``), by bytes per face at D = 128:

* ``flat``: exact search (``IndexIDMap2`` over ``IndexFlatL2``), 4 D bytes.
* ``sq8``: exhaustive search over 8-bit scalar-quantised vectors (the paper's 128 bytes
  per face), D bytes; per-dimension ranges trained on the gallery's vectors.
* ``ivf_flat``: inverted lists over float vectors (``IndexIVFFlat``), approximate,
  ``nprobe`` lists visited per query; 4 D bytes + 8 per id.
* ``ivf_sq8``: inverted lists over 8-bit codes (``IndexIVFScalarQuantizer``), D bytes + 8.
* ``hnsw``: graph search (``IndexHNSWFlat``, M = 32), ``ef_search`` exposed; 4 D bytes +
  the graph. faiss cannot remove from it: removal rebuilds it from the kept vectors.
* ``auto``: ``flat`` below `AUTO_CROSSOVER` faces, then `AUTO_APPROXIMATE`.

Kinds that need training hold their vectors in a ``flat`` index until a save finds enough
of them (`train_min`); the gallery then trains on those exact vectors and converts. An IVF
index is re-trained (lists re-clustered) when a save finds the gallery `RETRAIN_GROWTH`
times larger than when it was last trained. The crossover and defaults are measured by
``benchmarks/gallery_search.py`` (see docs/gallery.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import GalleryError, InvalidInputError

KINDS = ("flat", "sq8", "ivf_flat", "ivf_sq8", "hnsw")
INDEX_CHOICES = ("auto", *KINDS)
# Below this many faces "auto" searches exactly (flat): a query costs at most N x D
# multiply-adds (~1 ms on one core at 100k); from here on approximately, with the kind
# whose worst measured recall@1 is highest: ivf_flat at DEFAULT_NPROBE kept 0.992 of the
# top-1 neighbours on real CelebA embeddings and 1.000 on 1M synthetic faces (17.6x the
# flat index's queries/s), where hnsw at DEFAULT_EF_SEARCH kept 1.000 and 0.900.
# docs/gallery.md has the figures.
AUTO_CROSSOVER = 100_000
AUTO_APPROXIMATE = "ivf_flat"
TRAINED_KINDS = ("sq8", "ivf_flat", "ivf_sq8")
SQ_TRAIN_MIN = 256
IVF_TRAIN_MIN = 1_000
RETRAIN_GROWTH = 4
# IVF lists visited per query: on CelebA embeddings (532 lists) 16 kept 0.956 of the
# top-1 neighbours, 64 kept 0.992 (docs/gallery.md).
DEFAULT_NPROBE = 64
DEFAULT_EF_SEARCH = 64
HNSW_M = 32
# Training points per IVF list (faiss's k-means wants >= 39).
_POINTS_PER_LIST = 39


def faiss():
    """The faiss module, imported on first use."""
    try:
        import faiss as module
    except ImportError as e:  # pragma: no cover - faiss-cpu is a dependency
        raise GalleryError("facenet_tf.Gallery needs faiss: pip install faiss-cpu") from e
    return module


def check_kind(index: str) -> str:
    """Validates an ``index=`` choice."""
    if index not in INDEX_CHOICES:
        raise InvalidInputError(f"index must be one of {INDEX_CHOICES}, got {index!r}")
    return index


def train_min(kind: str) -> int:
    """Faces needed before ``kind`` is trained (0 for kinds without training)."""
    return {"sq8": SQ_TRAIN_MIN, "ivf_flat": IVF_TRAIN_MIN, "ivf_sq8": IVF_TRAIN_MIN}.get(kind, 0)


def target_kind(requested: str, count: int) -> str:
    """The kind a gallery of ``count`` faces should be stored as, for an ``index=`` choice."""
    kind = requested
    if requested == "auto":
        kind = "flat" if count < AUTO_CROSSOVER else AUTO_APPROXIMATE
    return "flat" if count < train_min(kind) else kind


def nlist_for(count: int) -> int:
    """IVF lists for ``count`` training vectors: about 4 sqrt(N), >= 39 points per list."""
    return max(1, min(int(4 * math.sqrt(count)), count // _POINTS_PER_LIST))


def build(kind: str, vectors: np.ndarray, ids: np.ndarray, params: dict[str, Any]):
    """A new index of ``kind`` holding ``vectors`` [N, D] under int64 ``ids`` [N],
    trained on them where the kind needs it; ``params`` gets the settings used
    (``nlist``, ``trained_count``)."""
    f = faiss()
    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "flat":
        index = f.index_factory(dim, "IDMap2,Flat")
    elif kind == "sq8":
        index = f.index_factory(dim, "IDMap2,SQ8")
    elif kind == "hnsw":
        index = f.index_factory(dim, f"IDMap2,HNSW{HNSW_M}")
    elif kind in ("ivf_flat", "ivf_sq8"):
        nlist = nlist_for(n)
        index = f.index_factory(dim, f"IVF{nlist},{'Flat' if kind == 'ivf_flat' else 'SQ8'}")
        params["nlist"] = nlist
    else:
        raise InvalidInputError(f"unknown index kind {kind!r}")
    if not index.is_trained:
        if n == 0:
            raise GalleryError(f"index kind {kind!r} needs vectors to train on")
        index.train(vectors)
        params["trained_count"] = n
    if kind.startswith("ivf"):
        # A hash table from id to list position: reconstruction by id and removal.
        f.extract_index_ivf(index).set_direct_map_type(f.DirectMap.Hashtable)
    set_search_params(index, kind, params)
    if n:
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index


def set_search_params(index, kind: str, params: dict[str, Any]) -> None:
    """Applies ``params["nprobe"]`` (IVF) or ``params["ef_search"]`` (HNSW) to ``index``."""
    f = faiss()
    if kind.startswith("ivf"):
        f.extract_index_ivf(index).nprobe = int(params.get("nprobe", DEFAULT_NPROBE))
    elif kind == "hnsw":
        f.downcast_index(index.index).hnsw.efSearch = int(
            params.get("ef_search", DEFAULT_EF_SEARCH)
        )


def train_if_due(index, kind: str, ids: np.ndarray, params: dict[str, Any]):
    """A save's training step: ``(index, kind)`` with a flat staging index converted to
    the requested kind (``params["requested"]``) once it holds enough faces, and an IVF
    index re-trained (lists re-clustered) once it holds `RETRAIN_GROWTH` times the faces
    it was trained on; else ``index`` and ``kind`` unchanged. ``ids``: int64 [N], every
    id ``index`` holds."""
    count = len(ids)
    target = target_kind(params["requested"], count)
    trained = int(params.get("trained_count") or 1)
    grown = kind.startswith("ivf") and count >= RETRAIN_GROWTH * trained
    if (kind == "flat" and target != "flat") or grown:
        kind = target if kind == "flat" else kind
        index = build(kind, reconstruct(index, ids), ids, params)
    return index, kind


def reconstruct(index, ids: np.ndarray) -> np.ndarray:
    """float32 [len(ids), D]: the stored vectors of ``ids`` (decoded, for 8-bit kinds)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(ids)


def remove(index, kind: str, ids: np.ndarray, kept_ids: np.ndarray, params: dict[str, Any]):
    """``index`` without ``ids``; ``kept_ids`` are the ids that stay. Returns the index
    (a rebuilt one for ``hnsw``, which faiss cannot remove from)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if kind == "hnsw":
        return build(kind, reconstruct(index, kept_ids), kept_ids, params)
    removed = index.remove_ids(ids)
    if removed != len(ids):
        raise GalleryError(f"index removed {removed} of {len(ids)} ids (gallery out of sync)")
    return index


def search(index, queries: np.ndarray, k: int) -> np.ndarray:
    """int64 [Q, k] candidate ids, nearest first by faiss's own distances; -1 where an
    approximate index found fewer than k."""
    _, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return found


def write(index, path: Path) -> None:
    faiss().write_index(index, str(path))


def read(f, kind: str, params: dict[str, Any]):
    """Reads an index from an open binary file and applies the search settings.

    Raises:
        GalleryError: faiss cannot read it; the message names the file.
    """
    f_ = faiss()
    try:
        index = f_.read_index(f_.PyCallbackIOReader(f.read))
    except RuntimeError as e:
        raise GalleryError(f"{f.name}: damaged gallery index ({str(e).splitlines()[0]})") from e
    set_search_params(index, kind, params)
    return index
