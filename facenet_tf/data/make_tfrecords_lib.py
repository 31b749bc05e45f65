"""Writes an aligned face folder tree as identity-major TFRecord shards (see ``schema``)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from facenet_tf.data import schema
from facenet_tf.data.folder import scan_folder_tree
from facenet_tf.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class MakeTFRecordsConfig:
    """What ``run`` writes.

    Attributes:
        input_dirs: one or more folder trees ``{identity}/{image}`` (same-named identity
            folders are merged).
        output_dir: where the shards, ``labels.txt`` and ``manifest.json`` go.
        prefix: shard file name prefix: ``{prefix}-00000-of-00008.tfrecord``.
        shard_size_mb: target size of one shard; identities are never split.
        num_shards: exact number of shards instead of ``shard_size_mb`` (0: by size).
        min_images_per_identity: identities with fewer readable images are left out.
        verify: decode every image first and record unreadable ones in the manifest
            instead of writing them.
    """

    input_dirs: tuple[str, ...]
    output_dir: str
    prefix: str = "train"
    shard_size_mb: float = 128.0
    num_shards: int = 0
    min_images_per_identity: int = 1
    verify: bool = True

    def __post_init__(self):
        if not self.input_dirs:
            raise InvalidInputError("input_dirs: at least one folder is required")
        for d in self.input_dirs:
            if not Path(d).is_dir():
                raise InvalidInputError(f"input_dirs: {d} is not a folder")
        if not self.output_dir:
            raise InvalidInputError("output_dir: required")
        if not self.prefix or "/" in self.prefix:
            raise InvalidInputError(f"prefix: must be a plain file name part, got {self.prefix!r}")
        if self.shard_size_mb <= 0:
            raise InvalidInputError(f"shard_size_mb: must be > 0, got {self.shard_size_mb}")
        if self.num_shards < 0:
            raise InvalidInputError(f"num_shards: must be >= 0, got {self.num_shards}")
        if self.min_images_per_identity < 1:
            raise InvalidInputError(
                f"min_images_per_identity: must be >= 1, got {self.min_images_per_identity}"
            )


def _check_image(data: bytes) -> str | None:
    """None when ``data`` decodes as an image, else the reason."""
    if not data:
        return "empty file"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if image is not None else "not a decodable image"


def shard_paths(output_dir: str, prefix: str, num_shards: int) -> list[str]:
    """The shard file names ``run`` writes."""
    return [
        os.path.join(output_dir, f"{prefix}-{i:05d}-of-{num_shards:05d}{schema.SHARD_SUFFIX}")
        for i in range(num_shards)
    ]


def run(config: MakeTFRecordsConfig) -> dict:
    """Writes the shards; returns the manifest (also saved as ``manifest.json``).

    Unreadable images are skipped and listed under ``failures`` with the reason; the
    job goes on. Each shard is written under a temporary name and renamed when complete,
    so a reader never sees a half-written shard.
    """
    index = scan_folder_tree(list(config.input_dirs))
    counts = index.counts()
    sizes = np.array([os.path.getsize(p) for p in index.paths], np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    total_bytes = int(sizes.sum())
    if config.num_shards:
        num_shards = min(config.num_shards, index.num_classes)
    else:
        num_shards = max(1, math.ceil(total_bytes / (config.shard_size_mb * 2**20)))
        num_shards = min(num_shards, index.num_classes)
    # Identities go to shards by cumulative size, so shards are about equally large.
    per_identity_bytes = np.array([sizes[s:e].sum() for s, e in zip(starts, ends, strict=True)])
    cum = np.cumsum(per_identity_bytes) - per_identity_bytes / 2
    shard_of = np.minimum((cum / max(total_bytes, 1) * num_shards).astype(int), num_shards - 1)

    os.makedirs(config.output_dir, exist_ok=True)
    paths = shard_paths(config.output_dir, config.prefix, num_shards)
    writers = [tf.io.TFRecordWriter(p + ".tmp") for p in paths]
    failures: list[dict] = []
    shard_stats = [{"file": os.path.basename(p), "identities": 0, "images": 0} for p in paths]
    written_identities = 0
    written_images = 0
    try:
        for label, name in enumerate(index.class_names):
            encoded, filenames = [], []
            for i in range(starts[label], ends[label]):
                path = index.paths[i]
                try:
                    data = Path(path).read_bytes()
                except OSError as err:
                    failures.append({"path": path, "error": f"unreadable: {err}"})
                    continue
                reason = _check_image(data) if config.verify else None
                if reason:
                    failures.append({"path": path, "error": reason})
                    continue
                encoded.append(data)
                filenames.append(os.path.basename(path))
            if len(encoded) < config.min_images_per_identity:
                continue
            shard = int(shard_of[label])
            writers[shard].write(schema.serialize_identity(name, label, encoded, filenames))
            shard_stats[shard]["identities"] += 1
            shard_stats[shard]["images"] += len(encoded)
            written_identities += 1
            written_images += len(encoded)
    finally:
        for w in writers:
            w.close()
    for p in paths:
        os.replace(p + ".tmp", p)
    with open(os.path.join(config.output_dir, schema.LABELS_FILE), "w", encoding="utf-8") as f:
        f.writelines(f"{label}\t{name}\n" for label, name in enumerate(index.class_names))
    manifest = {
        "schema_version": schema.SCHEMA_VERSION,
        "input_dirs": list(config.input_dirs),
        "num_identities": written_identities,
        "num_images": written_images,
        "shards": shard_stats,
        "failures": failures,
    }
    with open(os.path.join(config.output_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return manifest
