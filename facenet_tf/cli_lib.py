"""Library behind the ``facenet-tf`` commands (no flags here).

Every input that could not be used is a ``Failure`` (path, reason, kind), listed in
``<output>.failures.csv`` and counted in the command's summary line, never dropped.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.io.files import check_writable, list_images
from facenet_tf.io.images import read_image

# Output formats by file suffix; ``.npy`` only where a command writes a bare array.
ROW_SUFFIXES = (".csv", ".json")
NO_FACE = "no face found"


class Failure(NamedTuple):
    """One input that gave no result.

    Attributes:
        path: the file or folder, as given or found.
        reason: why, for the manifest.
        kind: its group in the summary line: "unreadable", "no face", "empty folder",
            or a command's own ("extra face", "no label").
    """

    path: str
    reason: str
    kind: str = "unreadable"


def check_output(
    path: str | os.PathLike, suffixes: tuple[str, ...] = ROW_SUFFIXES, flag: str = "--output"
) -> Path:
    """Refuses an output file before any work starts: unknown suffix, a folder in its
    place, or a location where it cannot be written.

    Raises:
        InvalidInputError: naming the flag and the problem.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise InvalidInputError(
            f"{flag} {path}: unknown suffix {suffix or '(none)'!r}; use {', '.join(suffixes)}"
        )
    if path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a folder; name a file")
    check_writable(path, flag)
    return path


def collect_images(inputs: Iterable[str]) -> list[Path]:
    """Expands folders into their images (``list_images``: recursive, sorted) and keeps
    named files as they are, in the order given. Broken symbolic links are kept, so that
    ``embed_files`` lists them as failures."""
    inputs = list(inputs)
    paths: list[Path] = []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            paths.extend(list_images(p))
        elif p.exists() or p.is_symlink():
            paths.append(p)
        else:
            raise InvalidInputError(f"{p}: no such file or folder")
    if not paths:
        raise InvalidInputError(f"no images found in {', '.join(inputs)}")
    return paths


def _read(path: Path) -> np.ndarray:
    if path.is_symlink() and not path.exists():
        raise InvalidInputError(f"broken symbolic link to {os.readlink(path)}")
    return read_image(path)


def embed_files(
    paths: list[Path], pipeline, aligned: bool, progress: bool = True
) -> tuple[list[Path], np.ndarray, list[Failure]]:
    """Embeds files through a ``FacePipeline`` in chunks. Unreadable files and, for raw
    photos under ``on_no_face="nan"``, photos with no face become failures, never rows.

    Returns:
        (embedded paths, float32 [N, D] embeddings, failures).
    """
    from tqdm import tqdm

    from facenet_tf.face_pipeline import FaceNotFoundWarning

    batch_size = pipeline.chunk_size
    done_paths: list[Path] = []
    chunks: list[np.ndarray] = []
    failures: list[Failure] = []
    bar = tqdm(total=len(paths), unit="img", disable=not progress or len(paths) < 2)
    for start in range(0, len(paths), batch_size):
        chunk, arrays = [], []
        for p in paths[start : start + batch_size]:
            try:
                arrays.append(_read(p))
                chunk.append(p)
            except FaceNetError as err:
                failures.append(Failure(str(p), str(err)))
        if arrays:
            with warnings.catch_warnings():
                # Faceless photos are reported as failures below, by path.
                warnings.simplefilter("ignore", FaceNotFoundWarning)
                vectors = pipeline.embed(arrays, aligned=aligned, names=[str(p) for p in chunk])
            no_face = np.isnan(vectors).any(axis=1)
            failures += [
                Failure(str(p), NO_FACE, "no face")
                for p, m in zip(chunk, no_face, strict=True)
                if m
            ]
            chunks.append(vectors[~no_face])
            done_paths.extend(p for p, m in zip(chunk, no_face, strict=True) if not m)
        bar.update(len(paths[start : start + batch_size]))
    bar.close()
    dim = pipeline.spec.embedding_dim
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return done_paths, vectors, failures


def write_rows(path: str | os.PathLike, header: list[str], rows: list[list]) -> None:
    """Writes rows as CSV (``.csv``) or as a JSON list of objects (``.json``).

    Raises:
        InvalidInputError: any other suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ROW_SUFFIXES:
        raise InvalidInputError(f"{path}: unknown suffix {suffix!r}; use .csv or .json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".csv":
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    else:
        tmp.write_text(json.dumps([dict(zip(header, r, strict=True)) for r in rows], indent=1))
    os.replace(tmp, path)


def failures_path(output: str | os.PathLike) -> Path:
    """``<output>.failures.csv``: the manifest beside an output."""
    return Path(str(output) + ".failures.csv")


def write_failures(output: str | os.PathLike, failures: list[Failure]) -> Path | None:
    """Writes ``<output>.failures.csv`` listing every input that could not be used, or
    removes a stale one when nothing failed (a clean re-run leaves no old manifest)."""
    manifest = failures_path(output)
    if not failures:
        manifest.unlink(missing_ok=True)
        return None
    write_rows(manifest, ["path", "reason"], [[f.path, f.reason] for f in failures])
    return manifest


def failure_summary(failures: list[Failure], manifest: Path | None) -> str:
    """The tail of a summary line: ``"; 2 failed (1 no face, 1 unreadable) -> m.csv"``,
    or "" when nothing failed."""
    if not failures or manifest is None:
        return ""
    kinds = ", ".join(
        f"{n} {kind}" for kind, n in sorted(Counter(f.kind for f in failures).items())
    )
    return f"; {len(failures)} failed ({kinds}) -> {manifest}"


def gallery_from_folders(root: str | os.PathLike) -> tuple[list[Path], list[str], list[Failure]]:
    """Gallery images from a ``{identity}/{image}`` tree.

    An identity folder without images is reported on stderr, listed as a failure and
    skipped.

    Returns:
        (paths, labels, failures).

    Raises:
        InvalidInputError: ``root`` is not a folder, or no identity folder has images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: gallery must be a folder of identity folders")
    paths, labels, failures = [], [], []
    for ident in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        found = list_images(ident)
        if not found:
            print(
                f"warning: gallery identity {ident.name!r} has no images; skipped", file=sys.stderr
            )
            failures.append(Failure(str(ident), "identity folder has no images", "empty folder"))
        for p in found:
            paths.append(p)
            labels.append(ident.name)
    if not paths:
        raise InvalidInputError(f"{root}: no identity folders with images")
    return paths, labels, failures
