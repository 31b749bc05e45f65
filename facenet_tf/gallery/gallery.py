"""``Gallery``: a persistent, searchable set of labelled face embeddings in a folder.

    with facenet_tf.Gallery.create("staff/") as g:      # default model, index="auto"
        g.add(["alice1.jpg", "alice2.jpg"], "alice")    # photos: embedded with g's model
        g.add(vectors, labels)                          # or unit vectors [N, D]
    g = facenet_tf.Gallery.open("staff/", readonly=True)
    g.identify("visitor.jpg")                           # ["alice"] or [None]

Vectors live in a faiss index (``facenet_tf.gallery.indexes``), labels and sources in a
SQLite table, both named with their sha256 by a JSON manifest replaced atomically on save
(``facenet_tf.gallery.generation`` over ``facenet_tf.gallery.storage``). What ``add`` and
``search`` accept is ``facenet_tf.gallery.inputs``. Reported distances are computed by
``facenet_tf.distances`` on the stored vectors; faiss only finds the candidates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.distances import l2_normalize, pair_distances
from facenet_tf.errors import GalleryError, InvalidInputError
from facenet_tf.gallery import generation, indexes, inputs, storage
from facenet_tf.gallery.search_result import SearchResult


class Gallery:
    """A folder of labelled face embeddings with exact or approximate k-NN search.

    Make one with `create` or `open`, not the constructor. One process at a time may
    write (the others get ``GalleryError``); any number may read, each seeing the last
    complete save. Changes are in memory until `save` (called on leaving a ``with``
    block without an exception).

    Attributes:
        path: the gallery folder.
        model_name: the model whose embeddings it holds.
        embedding_dim: D.
        template: the alignment template of the model's crops.
        readonly: opened with ``readonly=True``.
    """

    def __init__(self, path: Path, manifest: dict, index, table, lock, model):
        self.path = path
        self._manifest = manifest
        self._index = index
        self._kind: str = manifest["index"]["kind"]
        self._params: dict[str, Any] = dict(manifest["index"])
        ids, labels, sources = table
        self._ids: np.ndarray = ids
        self._labels: list[str] = labels
        self._sources: list[str | None] = sources
        self._pending: list[np.ndarray] = []  # ids added since _ids was last joined
        self._next_id = int(manifest["next_id"])
        self._lock = lock
        self._model = model
        self._embedder_ = None
        self._dirty = False
        self._closed = False
        self.model_name: str = manifest["model"]
        self.embedding_dim: int = int(manifest["embedding_dim"])
        self.template: str | None = manifest.get("template")
        self.readonly = lock is None

    # === Making and opening ===

    @classmethod
    def create(cls, path: str | os.PathLike, model: Any = None, index: str = "auto") -> Gallery:
        """Creates an empty gallery in a new or empty folder and opens it for writing.

        Args:
            path: the folder (made if missing; must not hold a gallery).
            model: registered name, ``.keras`` path, Keras model or ``Embedder`` whose
                embeddings the gallery holds; None is the default model.
            index: "auto", "flat", "sq8", "ivf_flat", "ivf_sq8" or "hnsw"
                (``facenet_tf.gallery.indexes``).

        Raises:
            GalleryError: the folder already holds a gallery or is not a folder.
        """
        indexes.check_kind(index)
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise GalleryError(f"{folder}: exists and is not a folder")
        if (folder / storage.MANIFEST).exists():
            raise GalleryError(f"{folder}: already holds a gallery; use Gallery.open")
        from facenet_tf.inference import get_embedder

        embedder = get_embedder(model)
        folder.mkdir(parents=True, exist_ok=True)
        lock = storage.WriterLock(folder)
        try:
            # Again under the lock: another process may have created one meanwhile.
            if (folder / storage.MANIFEST).exists():
                raise GalleryError(f"{folder}: already holds a gallery; use Gallery.open")
            return cls._create_locked(folder, embedder, index, lock, model)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _create_locked(cls, folder: Path, embedder, index: str, lock, model) -> Gallery:
        """The empty gallery, saved, for `create` (which holds ``lock``)."""
        params = {
            "requested": index,
            "kind": "flat",
            "nprobe": indexes.DEFAULT_NPROBE,
            "ef_search": indexes.DEFAULT_EF_SEARCH,
            "trained_count": 0,
        }
        manifest = {
            "format": storage.FORMAT,
            "format_version": storage.FORMAT_VERSION,
            "generation": 0,
            "model": embedder.name,
            "embedding_dim": int(embedder.embedding_dim),
            "template": embedder.spec.template,
            "count": 0,
            "next_id": 0,
            "index": params,
            "files": {},
        }
        empty = np.zeros((0, embedder.embedding_dim), np.float32)
        flat = indexes.build("flat", empty, np.zeros(0, np.int64), {})
        gallery = cls(folder, manifest, flat, (np.zeros(0, np.int64), [], []), lock, model)
        gallery._embedder_ = embedder
        gallery._dirty = True
        gallery.save()
        return gallery

    @classmethod
    def open(cls, path: str | os.PathLike, readonly: bool = False, model: Any = None) -> Gallery:
        """Opens a gallery folder (the generation of its last complete save).

        Args:
            path: the gallery folder.
            readonly: read without taking the writer lock (any number of readers).
            model: the model to embed photos with (as in ``create``); None loads the
                one named in the manifest when photos are first given. A model whose
                name or embedding size differs from the gallery's is refused.

        Raises:
            GalleryError: not a gallery; a damaged, truncated or missing file (named);
                another process holds it for writing (without ``readonly``); model
                mismatch.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise GalleryError(f"{folder}: no such gallery folder")
        lock = None if readonly else storage.WriterLock(folder)
        try:
            manifest, index, table = generation.load(folder)
            gallery = cls(folder, manifest, index, table, lock, model)
            if model is not None:
                gallery._embedder()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            storage.remove_stale(folder, set(generation.file_names(manifest)))
        return gallery

    # === Contents ===

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def index_kind(self) -> str:
        """The kind of the index as stored now ("flat" until a trained kind is trained)."""
        return self._kind

    @property
    def index_requested(self) -> str:
        """The ``index=`` choice the gallery was created with."""
        return self._params["requested"]

    @property
    def nprobe(self) -> int:
        """IVF lists visited per query (ivf kinds): more is slower and closer to exact."""
        return int(self._params["nprobe"])

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._set_param("nprobe", value)

    @property
    def ef_search(self) -> int:
        """HNSW candidate list size per query (hnsw): more is slower and closer to exact."""
        return int(self._params["ef_search"])

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._set_param("ef_search", value)

    def _set_param(self, name: str, value: int) -> None:
        if not isinstance(value, int | np.integer) or value < 1:
            raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        self._params[name] = int(value)
        indexes.set_search_params(self._index, self._kind, self._params)
        self._dirty = self._dirty or not self.readonly

    @property
    def ids(self) -> np.ndarray:
        """int64 [N]: the ids of the faces held, ascending."""
        self._join()
        return self._ids.copy()

    @property
    def labels(self) -> list[str]:
        """The label of each face, in the order of `ids`."""
        return list(self._labels)

    @property
    def sources(self) -> list[str | None]:
        """The source of each face (a file path, or None), in the order of `ids`."""
        return list(self._sources)

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 [len(ids), D]: stored vectors (decoded ones for 8-bit kinds)."""
        ids = self._known_ids(ids)
        return indexes.reconstruct(self._index, ids)

    # === Changes ===

    def add(
        self,
        items: Any,
        labels: str | Sequence[str],
        sources: Sequence[str | None] | None = None,
        *,
        aligned: bool = False,
    ) -> np.ndarray:
        """Adds faces.

        Args:
            items: unit-length embeddings [N, D] (or [D]), or images as
                ``facenet_tf.embed`` takes them, embedded with the gallery's model. The
                rule telling the two apart is ``facenet_tf.tasks``'s (a float array with
                D columns is vectors if every row has unit length, refused otherwise).
            labels: one label for all, or N labels (strings).
            sources: N strings (or None) stored with the faces; by default the file
                paths where ``items`` is a path or a list of paths.
            aligned: images are aligned crops (as in ``embed``).

        Returns:
            int64 [N] new ids (never reused).

        Raises:
            GalleryError: the gallery is read-only or closed.
            InvalidInputError / NoFaceError / ImageReadError: bad items, as ``embed``.
        """
        self._check_writable()
        vectors = self._embeddings(items, aligned, "items")
        labels = inputs.labels_for(labels, len(vectors))
        sources = inputs.sources_for(sources, items, len(vectors))
        return self._add_vectors(vectors, labels, sources)

    def _add_vectors(
        self, vectors: np.ndarray, labels: list[str], sources: list[str | None]
    ) -> np.ndarray:
        """Adds unit vectors [N, D] as they are (no image rule, no checks)."""
        vectors = l2_normalize(vectors).astype(np.float32)
        ids = np.arange(self._next_id, self._next_id + len(vectors), dtype=np.int64)
        if len(ids):
            self._index.add_with_ids(vectors, ids)
            self._pending.append(ids)
            self._labels.extend(labels)
            self._sources.extend(sources)
            self._next_id += len(ids)
            self._dirty = True
        return ids

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Removes faces by id.

        Returns:
            How many were removed.

        Raises:
            InvalidInputError: an id the gallery does not hold (nothing is removed).
        """
        self._check_writable()
        ids = np.unique(self._known_ids(ids))
        if not len(ids):
            return 0
        keep = ~np.isin(self._ids, ids)
        kept_ids = self._ids[keep]
        self._index = indexes.remove(self._index, self._kind, ids, kept_ids, self._params)
        self._ids = kept_ids
        self._labels = [lab for lab, k in zip(self._labels, keep, strict=True) if k]
        self._sources = [s for s, k in zip(self._sources, keep, strict=True) if k]
        self._dirty = True
        return len(ids)

    def find(self, label: str | None = None, source: str | None = None) -> np.ndarray:
        """int64 ids of the faces with this label and/or source."""
        self._join()
        keep = np.ones(len(self._ids), bool)
        if label is not None:
            keep &= np.array([lab == label for lab in self._labels], bool)
        if source is not None:
            keep &= np.array([s == source for s in self._sources], bool)
        return self._ids[keep]

    # === Search ===

    def search(self, items: Any, k: int = 5, *, aligned: bool = False) -> SearchResult:
        """The k nearest gallery faces of each query.

        Args:
            items: queries: unit vectors [Q, D] or images (as in `add`).
            k: neighbours per query (at most the gallery's size).
            aligned: images are aligned crops.

        Returns:
            ``SearchResult`` with [Q, min(k, len(self))] ids, labels, squared-L2
            distances (``facenet_tf.distances``) and sources, nearest first.

        Raises:
            InvalidInputError: bad k, bad items, or an empty gallery.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}")
        if len(self) == 0:
            raise InvalidInputError(f"{self.path}: the gallery is empty")
        queries = l2_normalize(self._embeddings(items, aligned, "items")).astype(np.float32)
        k = min(int(k), len(self))
        found = indexes.search(self._index, queries, k)
        valid = found >= 0
        distances = np.full(found.shape, np.inf)
        if valid.any():
            # The library's distance on the stored vectors, not faiss's own arithmetic.
            stored = indexes.reconstruct(self._index, found[valid])
            rows = np.repeat(queries, valid.sum(axis=1), axis=0)
            distances[valid] = pair_distances(rows, stored, "squared_l2")
        order = np.argsort(distances, axis=1, kind="stable")
        found = np.take_along_axis(found, order, axis=1)
        distances = np.take_along_axis(distances, order, axis=1)
        return SearchResult(
            ids=found,
            labels=self._lookup(found, self._labels),
            distances=distances,
            sources=self._lookup(found, self._sources),
        )

    def identify(
        self,
        items: Any,
        far: float | None = None,
        threshold: float | None = None,
        *,
        aligned: bool = False,
    ) -> list[str | None]:
        """The label of each query's nearest face, or None when it is farther than the
        threshold (unknown).

        Args:
            items: queries, as in `search`.
            far: target false-accept rate; the threshold is
                ``facenet_tf.thresholds.far_threshold(model_name, far)``.
            threshold: squared-L2 threshold (same when distance <= threshold).
                Neither: ``facenet_tf.tasks.default_threshold`` of the model.
            aligned: images are aligned crops.

        Raises:
            InvalidInputError: both ``far`` and ``threshold``; an uncalibrated ``far``.
        """
        if far is not None and threshold is not None:
            raise InvalidInputError("identify: give far or threshold, not both")
        if threshold is not None:
            from facenet_tf.thresholds import checked_threshold

            threshold = checked_threshold(threshold)
        result = self.search(items, k=1, aligned=aligned)
        t = self.threshold(far) if threshold is None else threshold
        return [
            lab if d <= t else None
            for lab, d in zip(result.labels[:, 0], result.distances[:, 0], strict=True)
        ]

    def threshold(self, far: float | None = None) -> float:
        """The squared-L2 threshold `identify` uses for ``far`` (None: the model's
        default threshold).

        With a compatible model in use (``use_model``, ``open(model=)``), queries are that
        model's vectors against the gallery's, and the threshold is the pair's
        cross-model DevTrain threshold.

        Raises:
            InvalidInputError: ``far`` is not calibrated, or a compatible model is in use
                with ``far`` or without a calibrated cross-model threshold.
        """
        from facenet_tf import thresholds

        query_model = self._embedder_.name if self._embedder_ is not None else self.model_name
        if query_model != self.model_name:
            if far is not None:
                raise InvalidInputError(
                    f"{self.path}: far= is calibrated for {self.model_name!r} alone, not for "
                    f"{query_model!r} queries against it; pass threshold="
                )
            cross = thresholds.cross_model_threshold(query_model, self.model_name)
            if cross is None:
                raise InvalidInputError(
                    f"{self.path}: no calibrated threshold for {query_model!r} queries "
                    f"against {self.model_name!r} vectors; pass threshold="
                )
            return cross
        if far is not None:
            return float(thresholds.far_threshold(self.model_name, far))
        return float(thresholds.default_threshold_of(self.model_name))

    # === Saving ===

    def save(self) -> None:
        """Writes the gallery as a new generation and makes it current atomically (a crash
        at any moment leaves the previous save complete). Trains or re-trains the index
        where its kind needs it. Does nothing when nothing changed."""
        self._check_writable()
        if not self._dirty:
            return
        self._join()
        self._index, self._kind = indexes.train_if_due(
            self._index, self._kind, self._ids, self._params
        )
        self._params["kind"] = self._kind
        self._manifest = generation.write(
            self.path,
            self._manifest,
            self._index,
            self._ids,
            self._labels,
            self._sources,
            next_id=self._next_id,
            index=dict(self._params),
        )
        self._dirty = False
        storage.remove_stale(self.path, set(generation.file_names(self._manifest)))

    def info(self) -> dict[str, Any]:
        """What ``facenet-tf gallery info`` prints: model, sizes, index settings, files."""
        files = self._manifest.get("files", {})
        index_bytes = files.get("index", {}).get("bytes", 0)
        return {
            "path": str(self.path),
            "model": self.model_name,
            "embedding_dim": self.embedding_dim,
            "template": self.template,
            "count": len(self),
            "identities": len(set(self._labels)),
            "index": dict(self._params, kind=self._kind),
            "generation": self._manifest["generation"],
            "saved": self._manifest.get("saved"),
            "unsaved_changes": self._dirty,
            "index_bytes_per_face": index_bytes / len(self) if len(self) else None,
            "files": files,
        }

    def close(self) -> None:
        """Releases the writer lock; unsaved changes are not written, and the gallery can
        still be searched but no longer changed."""
        if self._lock is not None:
            self._lock.release()
        self._closed = True

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self.readonly and not self._closed:
                self.save()
        finally:
            self.close()

    def __del__(self):
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()

    def __repr__(self) -> str:
        return (
            f"Gallery({str(self.path)!r}, model={self.model_name!r}, count={len(self)}, "
            f"index={self._kind!r}{', readonly' if self.readonly else ''})"
        )

    # === Helpers ===

    def _check_open(self) -> None:
        if self._closed:
            raise GalleryError(f"{self.path}: the gallery was closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.readonly:
            raise GalleryError(f"{self.path}: opened read-only")

    def _join(self) -> None:
        if self._pending:
            self._ids = np.concatenate([self._ids, *self._pending])
            self._pending = []

    def _known_ids(self, ids) -> np.ndarray:
        self._join()
        try:
            given = np.asarray(ids).reshape(-1)
            # Whole numbers only: a cast would turn 2.7 into id 2 and True into id 1.
            whole = given.dtype.kind in "iu" or (
                given.dtype.kind == "f" and bool(np.all(np.mod(given, 1) == 0))
            )
            if len(given) and not whole:
                raise ValueError(f"got {given[0]!r} ({given.dtype})")
            ids = given.astype(np.int64)
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"ids: expected integers ({e})") from e
        unknown = ids[~np.isin(ids, self._ids)]
        if len(unknown):
            raise InvalidInputError(
                f"ids: {len(unknown)} not in the gallery (e.g. {int(unknown[0])})"
            )
        return ids

    def _lookup(self, found: np.ndarray, column: list) -> np.ndarray:
        self._join()
        values = np.empty(len(column), dtype=object)
        values[:] = column
        out = np.full(found.shape, None, dtype=object)
        valid = found >= 0
        out[valid] = values[np.searchsorted(self._ids, found[valid])]
        return out

    def use_model(self, model: Any) -> None:
        """Embeds photos with ``model`` (name, ``.keras`` path, Keras model or
        ``Embedder``) from now on.

        Raises:
            GalleryError: its name or embedding size differs from the gallery's.
        """
        self._embedder_ = inputs.checked_embedder(
            model, self.path, self.model_name, self.embedding_dim
        )
        self._model = model

    def _embedder(self):
        """The model's ``Embedder``, loaded on first need and checked against the
        manifest."""
        if self._embedder_ is None:
            self.use_model(self._model if self._model is not None else self.model_name)
        return self._embedder_

    def _embeddings(self, items: Any, aligned: bool, name: str) -> np.ndarray:
        return inputs.vectors(
            items, self._embedder, aligned, name, self.embedding_dim, self.model_name
        )
