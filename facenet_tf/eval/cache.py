"""Embedding cache keyed by model identity and image content.

One ``.npz`` file per model key under the cache folder holds, for every image seen, the
SHA-256 of its content (file bytes, or an array's dtype, shape and bytes), its embedding and
whether no face was found in it. A re-run with the same model and images reads everything
back; a changed image (same path, new bytes) or a changed model misses the cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import ImageReadError, InvalidInputError

PathLike = str | os.PathLike
# (items) -> (float32 [n, D] embeddings, bool [n] no-face flags)
ComputeFn = Callable[[Sequence[Any]], tuple[np.ndarray, np.ndarray]]


def content_hash(item: Any) -> str:
    """SHA-256 hex digest of an image's content: a file's bytes, or an array's
    dtype, shape and bytes."""
    if isinstance(item, str | os.PathLike):
        p = Path(item)
        try:
            return hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError as err:
            raise ImageReadError(f"{p}: cannot read ({err.strerror or err})") from None
    a = np.ascontiguousarray(item)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def model_identity(model: Any) -> str:
    """A key for a Keras model's exact weights: its name plus a SHA-256 over every weight
    (shape, dtype and values, in order). Two models with equal weights share a key."""
    h = hashlib.sha256(model.name.encode())
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w))
        h.update(f"{w.path}{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return f"{model.name}:{h.hexdigest()[:32]}"


class EmbeddingCache:
    """Embeddings of images under one model key, stored in ``cache_dir/<key-hash>.npz``.

    Args:
        cache_dir: folder of cache files (created on save).
        key: model identity plus every option that changes embeddings (alignment,
            no-face policy, flip, ...).
    """

    def __init__(self, cache_dir: PathLike, key: str):
        self.key = key
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        self.path = Path(cache_dir) / f"embeddings_{digest}.npz"
        self._rows: dict[str, tuple[np.ndarray, bool]] = {}
        self.hits = 0
        self.misses = 0
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:  # each z[k] reads the file
                key_ok = str(z["key"]) == key  # a digest collision would otherwise mix models
                rows = (z["hashes"], z["embeddings"], z["no_face"]) if key_ok else ([], [], [])
            for h, e, f in zip(*rows, strict=True):
                self._rows[str(h)] = (e, bool(f))

    def __len__(self) -> int:
        return len(self._rows)

    def save(self) -> None:
        """Writes the cache atomically."""
        if not self._rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        hashes = list(self._rows)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(
            tmp,
            key=np.asarray(self.key),
            hashes=np.asarray(hashes),
            embeddings=np.stack([self._rows[h][0] for h in hashes]).astype(np.float32),
            no_face=np.asarray([self._rows[h][1] for h in hashes], dtype=bool),
        )
        os.replace(tmp, self.path)

    def embed(
        self,
        items: Sequence[Any],
        compute_fn: ComputeFn,
        batch_size: int = 64,
        progress: bool = False,
        save_every: int = 20,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of ``items``, computing only those not cached.

        Args:
            items: file paths or image arrays.
            compute_fn: (items) -> (float32 [n, D], bool [n] no-face flags).
            batch_size: items per ``compute_fn`` call.
            progress: show a tqdm bar over the items to compute.
            save_every: save after this many batches (an interrupted run keeps its work).

        Returns:
            (float32 [N, D] embeddings, bool [N] no-face flags), in item order.
        """
        hashes = [content_hash(x) for x in items]
        todo: dict[str, Any] = {}
        for h, x in zip(hashes, items, strict=True):
            if h not in self._rows and h not in todo:
                todo[h] = x
        self.hits += len(items) - sum(1 for h in hashes if h in todo)
        self.misses += len(todo)
        if todo:
            from tqdm import tqdm

            keys = list(todo)
            bar = tqdm(total=len(keys), unit="img", desc="embedding", disable=not progress)
            for n, start in enumerate(range(0, len(keys), batch_size)):
                chunk = keys[start : start + batch_size]
                emb, no_face = compute_fn([todo[h] for h in chunk])
                emb = np.asarray(emb, dtype=np.float32)
                no_face = np.asarray(no_face, dtype=bool).reshape(-1)
                if emb.ndim != 2 or len(emb) != len(chunk) or len(no_face) != len(chunk):
                    raise InvalidInputError(
                        f"embedding function returned {emb.shape} / {no_face.shape} "
                        f"for {len(chunk)} images"
                    )
                for h, e, f in zip(chunk, emb, no_face, strict=True):
                    self._rows[h] = (e, bool(f))
                bar.update(len(chunk))
                if (n + 1) % save_every == 0:
                    self.save()
            bar.close()
            self.save()
        emb = np.stack([self._rows[h][0] for h in hashes]).astype(np.float32)
        return emb, np.asarray([self._rows[h][1] for h in hashes], dtype=bool)
