"""Library behind the ``facenet-tf embed|verify|identify|cluster`` commands (no flags here)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.io.files import list_images
from facenet_tf.io.images import read_image


def collect_images(inputs: Iterable[str]) -> list[Path]:
    """Expands folders into their images (``list_images``: recursive, sorted) and keeps
    named files as they are, in the order given."""
    paths: list[Path] = []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            paths.extend(list_images(p))
        elif p.exists():
            paths.append(p)
        else:
            raise InvalidInputError(f"{p}: no such file or folder")
    if not paths:
        raise InvalidInputError(f"no images found in {list(inputs)}")
    return paths


def embed_files(
    paths: list[Path], pipeline, aligned: bool, progress: bool = True
) -> tuple[list[Path], np.ndarray, list[tuple[str, str]]]:
    """Embeds files through a ``FacePipeline`` in chunks; unreadable files are listed as
    failures, never dropped silently.

    Returns:
        (embedded paths, float32 [N, D] embeddings, [(path, reason)] failures).
    """
    from tqdm import tqdm

    batch_size = pipeline.chunk_size
    done_paths: list[Path] = []
    chunks: list[np.ndarray] = []
    failures: list[tuple[str, str]] = []
    bar = tqdm(total=len(paths), unit="img", disable=not progress or len(paths) < 2)
    for start in range(0, len(paths), batch_size):
        chunk, arrays = [], []
        for p in paths[start : start + batch_size]:
            try:
                arrays.append(read_image(p))
                chunk.append(p)
            except FaceNetError as err:
                failures.append((str(p), str(err)))
        if arrays:
            chunks.append(pipeline.embed(arrays, aligned=aligned, names=[str(p) for p in chunk]))
            done_paths.extend(chunk)
        bar.update(len(paths[start : start + batch_size]))
    bar.close()
    dim = pipeline.spec.embedding_dim
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return done_paths, vectors, failures


def write_rows(path: str | os.PathLike, header: list[str], rows: list[list]) -> None:
    """Writes rows as CSV (``.csv``) or as a JSON list of objects (anything else)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".csv":
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    else:
        tmp.write_text(json.dumps([dict(zip(header, r, strict=True)) for r in rows], indent=1))
    os.replace(tmp, path)


def write_failures(output: str | os.PathLike, failures: list[tuple[str, str]]) -> Path | None:
    """Writes ``<output>.failures.csv`` listing every input that could not be used."""
    if not failures:
        return None
    manifest = Path(str(output) + ".failures.csv")
    write_rows(manifest, ["path", "reason"], [list(f) for f in failures])
    return manifest


def gallery_from_folders(root: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Gallery images from a ``{identity}/{image}`` tree: (paths, labels)."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: gallery must be a folder of identity folders")
    paths, labels = [], []
    for ident in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for p in list_images(ident):
            paths.append(p)
            labels.append(ident.name)
    if not paths:
        raise InvalidInputError(f"{root}: no identity folders with images")
    return paths, labels
