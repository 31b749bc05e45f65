"""A gallery folder on disk: generations of files named by one manifest, replaced atomically.

Layout::

    gallery.json            the manifest: format version, model, D, template, count, index
                            settings, the current generation and the sha256 of its files
    index.<gen>.faiss       the faiss index of generation <gen>
    table.<gen>.sqlite      ids, labels and sources (SQLite, table ``faces``)
    writer.lock             flock-ed by the one process that may write

Saving writes generation g + 1 under new names (temporary name, fsync, rename), fsyncs
the folder, then replaces the manifest the same way (``os.replace`` is atomic on POSIX)
and fsyncs the folder again; only then are older files removed. A crash at any moment
(``kill -9`` included) leaves either the old manifest, whose files are still there, or
the new one, whose files are complete. Readers read the manifest once and then the files
it names, checking each file's sha256; if a writer removed them in between, they read the
new manifest and try again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import GalleryError

MANIFEST = "gallery.json"
LOCK = "writer.lock"
FORMAT = "facenet_tf.gallery"
FORMAT_VERSION = 1
# Files a gallery folder may hold besides the manifest and the lock; anything matching
# these that the manifest does not name is left over from an interrupted save.
_OWN_FILE = re.compile(r"^(index\.\d+\.faiss|table\.\d+\.sqlite|\.tmp\..*)$")
_REQUIRED_KEYS = (
    "format",
    "format_version",
    "generation",
    "model",
    "embedding_dim",
    "count",
    "next_id",
    "index",
    "files",
)


def file_names(generation: int) -> dict[str, str]:
    """The file of each role ("index", "table") in a generation."""
    return {"index": f"index.{generation:06d}.faiss", "table": f"table.{generation:06d}.sqlite"}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Makes renames and removals in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Calls ``write(tmp)`` for a temporary file beside ``path``, fsyncs it and renames it
    to ``path``: a reader sees the old file or the complete new one, never a part."""
    tmp = path.with_name(f".tmp.{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, value: dict) -> None:
    """Writes ``value`` as JSON atomically (`write_atomic`)."""
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(value, indent=1) + "\n"))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a gallery folder, checked for shape.

    Raises:
        GalleryError: the folder has no manifest, or it is not a gallery manifest of a
            version this code reads; the message names the file.
    """
    path = folder / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GalleryError(
            f"{folder}: not a gallery (no {MANIFEST}); create one with Gallery.create"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise GalleryError(f"{path}: cannot read the gallery manifest ({e})") from e
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise GalleryError(f"{path}: damaged gallery manifest (not JSON: {e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GalleryError(f"{path}: not a facenet_tf gallery manifest")
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise GalleryError(f"{path}: damaged gallery manifest (missing {', '.join(missing)})")
    if manifest["format_version"] != FORMAT_VERSION:
        raise GalleryError(
            f"{path}: gallery format version {manifest['format_version']!r}; this facenet_tf "
            f"reads version {FORMAT_VERSION}"
        )
    files = manifest["files"]
    if not isinstance(files, dict) or any(
        not isinstance(files.get(role), dict) or not {"name", "sha256", "bytes"} <= set(files[role])
        for role in ("index", "table")
    ):
        raise GalleryError(f"{path}: damaged gallery manifest (bad 'files' entry)")
    return manifest


def check_open_file(f, entry: dict[str, Any]) -> None:
    """Checks an open file (binary, at offset 0) against its manifest entry: size and
    sha256. Leaves it at offset 0.

    Raises:
        GalleryError: truncated or damaged; the message names the file.
    """
    size = os.fstat(f.fileno()).st_size
    if size != entry["bytes"]:
        raise GalleryError(
            f"{f.name}: {size} bytes, the manifest says {entry['bytes']} (truncated or damaged)"
        )
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    if digest.hexdigest() != entry["sha256"]:
        raise GalleryError(f"{f.name}: sha256 differs from the manifest's (damaged)")
    f.seek(0)


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest's record of a written file: name, bytes, sha256."""
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_table(
    path: Path, ids: np.ndarray, labels: Sequence[str], sources: Sequence[str | None]
) -> None:
    """Writes the ``faces`` table (id, label, source) as a new SQLite file at ``path``."""
    con = sqlite3.connect(path)
    try:
        # The file is written once, whole, then fsynced and renamed by the caller: no
        # journal is needed for crash safety.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, label TEXT NOT NULL, source TEXT)")
        con.executemany(
            "INSERT INTO faces VALUES (?, ?, ?)",
            zip(map(int, ids), labels, sources, strict=True),
        )
        con.commit()
    finally:
        con.close()


def read_table(data: bytes, path: Path) -> tuple[np.ndarray, list[str], list[str | None]]:
    """Reads the ``faces`` table from the bytes of its file.

    Returns:
        (int64 ids [N] ascending, labels, sources).

    Raises:
        GalleryError: not a readable gallery table; the message names ``path``.
    """
    try:
        con = sqlite3.connect(":memory:")
        try:
            con.deserialize(data)
            rows = con.execute("SELECT id, label, source FROM faces ORDER BY id").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise GalleryError(f"{path}: damaged gallery table ({e})") from e
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, [r[1] for r in rows], [r[2] for r in rows]


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Removes generation and temporary files the manifest does not name (left by
    earlier saves or by a save that was interrupted)."""
    for p in folder.iterdir():
        if _OWN_FILE.match(p.name) and p.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


class WriterLock:
    """The one-writer lock of a gallery folder (``fcntl.flock`` on ``writer.lock``).

    The operating system releases it when the process ends, however it ends.
    """

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GalleryError(
                f"{folder}: the gallery is open for writing by {holder}; open it with "
                "readonly=True, or close the other writer first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
