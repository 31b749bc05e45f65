"""Embedding distillation: a strong teacher's embeddings as per-image training targets.

The paper trains on 100M+ faces; on a few thousand identities a student learns far
faster when, besides the triplet loss, it is pulled towards the embedding a stronger
model gives each training image. ``compute_targets`` embeds every image of an aligned
folder tree with a teacher (by default the bundled ``dlib_resnet_v1``), once; training
(``TrainConfig.distill_targets``) then adds ``distill_weight * ||f(x) - t(x)||^2``,
averaged over the images, to the triplet loss, with the targets centred on their mean
and re-normalised by default (see ``load_targets``).

The training crops were aligned for the student (e.g. ``facenet_160``); the teacher
expects its own template (``dlib_150``). Both crops come from a similarity fit of the
same five landmarks, so the face pipeline warps the student's crop onto the teacher's
template (``FacePipeline.embed(..., aligned=True, source_template=...)``); no second
detection pass is needed. A target is the unit mean of the embeddings of the crop and
its mirror image (the pipeline's flip test-time augmentation).

Targets are stored as ``.npz``: ``paths`` (the images' real paths), ``embeddings``
float32 [N, D], ``failed`` (paths that could not be read, with ``reasons``) and a JSON
``meta``. Training looks targets up by path; images without one are trained with the
triplet loss alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from facenet_tf.distances import l2_normalize
from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.io.images import read_image

if TYPE_CHECKING:
    import keras

    from facenet_tf.inference import Embedder

TARGETS_VERSION = 1


def teacher_embed(
    crops: Sequence[np.ndarray],
    embedder: Embedder,
    source_template: str = "facenet_160",
    flip: bool = True,
    batch_size: int = 64,
    teacher_template: str | None = None,
) -> np.ndarray:
    """Teacher embeddings of square aligned crops held in memory, through the face pipeline.

    Args:
        crops: uint8 [S, S, 3] RGB crops aligned with ``source_template`` (any sides).
        embedder: the teacher (``facenet_tf.inference.get_embedder``).
        source_template: template of the crops; the pipeline warps them onto the
            teacher's (``FacePipeline.embed(..., aligned=True, source_template=...)``).
        flip: the pipeline's flip test-time augmentation.
        batch_size: images per teacher forward pass.
        teacher_template: the teacher's template when it is not registered.

    Returns:
        float32 [N, D] unit vectors.
    """
    from facenet_tf.face_pipeline import FacePipeline

    if not len(crops):
        return np.zeros((0, embedder.embedding_dim), np.float32)
    pipeline = FacePipeline(embedder, flip=flip, batch_size=batch_size, template=teacher_template)
    return pipeline.embed(list(crops), aligned=True, source_template=source_template)


def compute_targets(
    paths: Sequence[str],
    teacher: str | os.PathLike | keras.Model = "dlib_resnet_v1",
    source_template: str = "facenet_160",
    batch_size: int = 64,
    flip: bool = True,
    progress: Callable[[int], None] | None = None,
    teacher_template: str | None = None,
) -> tuple[np.ndarray, dict[str, str], dict]:
    """Teacher embeddings of aligned crops.

    Args:
        paths: image files, crops aligned with ``source_template`` (any square size).
        teacher: registry name, ``.keras`` path or Keras model of the teacher.
        source_template: template of the crops.
        batch_size: images per teacher forward pass.
        flip: average each embedding with that of the mirrored crop.
        progress: called with the number of images done after every batch.
        teacher_template: the teacher's template when it is not registered.

    Returns:
        (embeddings float32 [N, D] with NaN rows for unreadable images,
        {path: reason} of those images, meta dict).
    """
    from facenet_tf.inference import get_embedder

    embedder = get_embedder(teacher)
    size = embedder.input_size[0]
    if embedder.input_size[1] != size:
        raise InvalidInputError(f"teacher {teacher!r}: expected a square input, got {size}")
    out = np.full((len(paths), embedder.embedding_dim), np.nan, np.float32)
    failed: dict[str, str] = {}
    for start in range(0, len(paths), batch_size):
        rows, crops = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                image = read_image(paths[i])
            except (FaceNetError, OSError) as err:
                failed[paths[i]] = f"{type(err).__name__}: {err}"
                continue
            if image.shape[0] != image.shape[1]:
                failed[paths[i]] = f"not a square aligned crop: {image.shape[1]}x{image.shape[0]}"
                continue
            rows.append(i)
            crops.append(image)
        if crops:
            out[rows] = teacher_embed(
                crops, embedder, source_template, flip, batch_size, teacher_template
            )
        if progress is not None:
            progress(min(start + batch_size, len(paths)))
    meta = {
        "version": TARGETS_VERSION,
        "teacher": embedder.name,
        "teacher_template": teacher_template or embedder.spec.template,
        "source_template": source_template,
        "flip": flip,
        "embedding_dim": embedder.embedding_dim,
    }
    return out, failed, meta


def save_targets(
    path: str | os.PathLike,
    paths: Sequence[str],
    embeddings: np.ndarray,
    failed: dict[str, str],
    meta: dict,
) -> None:
    """Writes a targets file atomically (unreadable images listed, not dropped)."""
    from facenet_tf.pretrained.cache import write_npz_atomic

    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(paths):
        raise InvalidInputError(
            f"embeddings: expected [{len(paths)}, D] (one row per path), got {embeddings.shape}"
        )
    ok = np.all(np.isfinite(embeddings), axis=1)
    real = [os.path.realpath(p) for p, good in zip(paths, ok, strict=True) if good]
    write_npz_atomic(
        path,
        {
            "paths": np.array(real, dtype=str),
            "embeddings": embeddings[ok].astype(np.float32),
            "failed": np.array(sorted(failed), dtype=str),
            "reasons": np.array([failed[p] for p in sorted(failed)], dtype=str),
            "meta": np.array(json.dumps(meta)),
        },
    )


def load_targets(
    path: str | os.PathLike, paths: Sequence[str], center: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Targets for ``paths`` in their order.

    Args:
        path: a file written by ``save_targets``.
        paths: the training images (``ImageIndex.paths``).
        center: subtract the mean of all stored embeddings and re-normalise. A teacher's
            unit vectors often fill a narrow cap of the sphere (dlib's: mean vector of
            norm ~0.9, different people ~0.3 apart in squared L2); centred, they spread
            over the sphere (~2 apart), the geometry the triplet margin of 0.2 assumes,
            and a student can no longer fit them by collapsing to the cap's centre.

    Returns:
        (targets float32 [N, D], zero rows where missing; has_target bool [N]).

    Raises:
        InvalidInputError: the file is missing, unreadable or not a targets file, or no
            image in ``paths`` has a target.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = [str(p) for p in f["paths"]]
            embeddings = np.asarray(f["embeddings"], np.float32)
    except FileNotFoundError:
        raise InvalidInputError(f"distill_targets {path}: no such file") from None
    except (KeyError, ValueError, OSError) as err:
        raise InvalidInputError(f"distill_targets {path}: not a targets file ({err})") from None
    if embeddings.ndim != 2 or len(embeddings) != len(stored):
        raise InvalidInputError(f"distill_targets {path}: paths and embeddings disagree")
    if not np.all(np.isfinite(embeddings)):
        raise InvalidInputError(f"distill_targets {path}: non-finite embeddings")
    if center:
        centred = embeddings - embeddings.mean(axis=0, keepdims=True)
        embeddings = l2_normalize(centred).astype(np.float32)
    row = {p: i for i, p in enumerate(stored)}
    lookup = np.array([row.get(os.path.realpath(p), -1) for p in paths], np.int64)
    has = lookup >= 0
    if not has.any():
        raise InvalidInputError(
            f"distill_targets {path}: none of the {len(paths)} training images has a target "
            "(computed for other folders?)"
        )
    targets = np.zeros((len(paths), embeddings.shape[1]), np.float32)
    targets[has] = embeddings[lookup[has]]
    return targets, has
