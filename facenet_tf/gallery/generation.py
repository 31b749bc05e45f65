"""One complete save of a gallery folder: reading the current generation, writing the next.

A generation is the faiss index file and the SQLite table named (with their sha256) by
the manifest; ``facenet_tf.gallery.storage`` holds the file-level steps (atomic writes,
hashes, the table format) and this module puts them together in the order that keeps
every moment of a save recoverable.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import GalleryError
from facenet_tf.gallery import indexes, storage

# Re-reads of the manifest when a writer replaces the generation during an open.
OPEN_ATTEMPTS = 20


def file_names(manifest: dict) -> list[str]:
    """The names of the files ``manifest`` names."""
    return [entry["name"] for entry in manifest["files"].values()]


def load(folder: Path) -> tuple[dict, Any, tuple[np.ndarray, list[str], list[str | None]]]:
    """The manifest, index and table (ids, labels, sources) of the current generation,
    every file checked.

    A file is opened before it is hashed and read through the same descriptor, so a
    writer removing it meanwhile cannot change what is read; a file already gone means
    a newer generation: the manifest is read again.

    Raises:
        GalleryError: a damaged, truncated or missing file (named), files that do not
            belong together, or a gallery that kept changing while being read.
    """
    for _ in range(OPEN_ATTEMPTS):
        manifest = storage.read_manifest(folder)
        try:
            with (
                open(folder / manifest["files"]["index"]["name"], "rb") as index_file,
                open(folder / manifest["files"]["table"]["name"], "rb") as table_file,
            ):
                storage.check_open_file(index_file, manifest["files"]["index"])
                storage.check_open_file(table_file, manifest["files"]["table"])
                table_bytes = table_file.read()
                index = indexes.read(index_file, manifest["index"]["kind"], manifest["index"])
        except FileNotFoundError as e:
            if storage.read_manifest(folder)["generation"] != manifest["generation"]:
                continue
            raise GalleryError(f"{e.filename}: missing; {storage.MANIFEST} names it") from e
        table = storage.read_table(table_bytes, folder / manifest["files"]["table"]["name"])
        _check_consistent(folder, manifest, index, table)
        return manifest, index, table
    raise GalleryError(f"{folder}: the gallery kept changing while being opened")


def write(
    folder: Path,
    manifest: dict,
    faiss_index,
    ids: np.ndarray,
    labels: list[str],
    sources: list[str | None],
    **fields: Any,
) -> dict:
    """Writes the next generation after ``manifest``'s and makes it current atomically.

    The index and the table go under new names (temporary name, fsync, rename), the
    folder is fsynced, then the manifest naming them replaces the old one the same way;
    only then are the older files removed.

    Args:
        folder: the gallery folder.
        manifest: the current manifest.
        faiss_index: the index holding ``ids``.
        ids: int64 [N] ascending; ``labels``, ``sources``: N of each.
        **fields: other manifest entries to set (``next_id``, ``index`` settings).

    Returns:
        The new manifest.
    """
    generation = int(manifest["generation"]) + 1
    names = storage.file_names(generation)
    storage.write_atomic(folder / names["index"], lambda p: indexes.write(faiss_index, p))
    storage.write_atomic(
        folder / names["table"], lambda p: storage.write_table(p, ids, labels, sources)
    )
    storage.fsync_dir(folder)
    new = dict(manifest)
    new.update(
        generation=generation,
        count=len(ids),
        **fields,
        files={role: storage.file_entry(folder / name) for role, name in names.items()},
        saved=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    storage.write_json(folder / storage.MANIFEST, new)
    storage.fsync_dir(folder)
    return new


def _check_consistent(folder: Path, manifest: dict, index, table) -> None:
    ids = table[0]
    path = folder / storage.MANIFEST
    if index.d != manifest["embedding_dim"]:
        raise GalleryError(
            f"{path}: index holds {index.d}-D vectors, manifest says {manifest['embedding_dim']}"
        )
    if not (index.ntotal == len(ids) == manifest["count"]):
        raise GalleryError(
            f"{path}: count {manifest['count']}, index {index.ntotal}, table {len(ids)} "
            "(files do not belong together)"
        )
    if len(ids) and ids[-1] >= manifest["next_id"]:
        raise GalleryError(f"{path}: next_id {manifest['next_id']} is not above the ids")
