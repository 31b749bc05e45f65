"""Aligns a whole ``{identity}/{image}`` tree (logic of the ``align_dataset`` binary).

* The output tree mirrors the input tree; each output is ``<relative path>.png`` (or
  ``.jpg``); with policy "all" the faces are ``<stem>_0.png``, ``<stem>_1.png``, ...
* Work is split over processes (each runs its own detector on batches of images).
* Outputs are written to a temporary name and renamed, so a crash or Ctrl-C never
  leaves a half-written image; a re-run skips every input whose output exists.
* Every input gets a manifest row (status ``aligned``, ``skipped``, ``no_face``,
  ``too_small``, ``too_large``, ``unreadable`` or ``error``) with the reason and the
  template of its crop.
* The template defaults to the one the embedding model expects (``model_spec(model)``;
  the default model unless ``model`` is given). Each crop records it in its own file
  (``facenet_tf.align.provenance``), so the face pipeline can refuse crops of another
  template; an existing output made with another template is not skipped but reported
  as an error (a folder never silently mixes templates).
* Inputs are only read: the output tree and the manifest may not lie inside the input
  tree, nor the input tree inside the output tree.
"""

from __future__ import annotations

import csv
import dataclasses
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from facenet_tf.align.provenance import embed_template, read_template
from facenet_tf.align.templates import MARGIN_MODE, get_template, template_names
from facenet_tf.errors import ImageReadError, ImageTooLargeError, InvalidInputError
from facenet_tf.face_choice import DEFAULT_POLICY, POLICIES
from facenet_tf.io.files import list_images

TMP_SUFFIX = ".facenet-tmp"
MANIFEST_NAME = "align_manifest.csv"
MANIFEST_FIELDS = ("input", "output", "status", "reason", "template")


def default_template(model: str | None = None) -> str:
    """The alignment template ``model`` (default: the default model) expects.

    Raises:
        ModelNotFoundError: ``model`` is not registered.
        InvalidInputError: the model names no template.
    """
    from facenet_tf.models.registry import default_model_name
    from facenet_tf.models.spec import model_spec

    spec = model_spec(model or default_model_name())
    if not spec.template:
        raise InvalidInputError(f"model {spec.name!r} names no alignment template; pass one")
    return spec.template


@dataclasses.dataclass(frozen=True)
class AlignDatasetConfig:
    """Validated settings of one ``align_dataset`` run (see the binary's flags)."""

    input_dir: Path
    output_dir: Path
    template: str | None = None  # None: the template ``model`` expects
    model: str | None = None  # None: the default model
    image_size: int | None = None
    margin: float | None = None
    policy: str = DEFAULT_POLICY
    min_face_size: float = 20.0
    num_workers: int = 1
    threads_per_worker: int = 1
    batch_size: int = 16
    output_format: str = "png"
    manifest: Path | None = None
    progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "input_dir", Path(self.input_dir).resolve())
        object.__setattr__(self, "output_dir", Path(self.output_dir).resolve())
        manifest = self.output_dir / MANIFEST_NAME if self.manifest is None else self.manifest
        object.__setattr__(self, "manifest", Path(manifest).resolve())
        if self.template is None:
            object.__setattr__(self, "template", default_template(self.model))
        self._validate()

    def _validate(self) -> None:
        if not self.input_dir.is_dir():
            raise InvalidInputError(f"input_dir {self.input_dir}: not a directory")
        for name, path in (("output_dir", self.output_dir), ("manifest", self.manifest)):
            if path == self.input_dir or self.input_dir in path.parents:
                raise InvalidInputError(
                    f"{name} {path} lies inside input_dir {self.input_dir}; inputs are never "
                    "written to, choose a separate folder"
                )
        if self.output_dir in self.input_dir.parents:
            raise InvalidInputError(
                f"input_dir {self.input_dir} lies inside output_dir {self.output_dir}"
            )
        if self.template not in (*template_names(), MARGIN_MODE):
            raise InvalidInputError(
                f"template must be one of {[*template_names(), MARGIN_MODE]}, got {self.template!r}"
            )
        if self.template != MARGIN_MODE:
            get_template(self.template)  # fails early if the fitted templates are missing
        if self.margin is not None and self.template != MARGIN_MODE:
            raise InvalidInputError(f"margin applies to template={MARGIN_MODE!r} only")
        if self.margin is not None and self.margin < 0:
            raise InvalidInputError(f"margin must be >= 0, got {self.margin}")
        if self.image_size is not None and self.image_size < 8:
            raise InvalidInputError(f"image_size must be >= 8, got {self.image_size}")
        if self.policy not in POLICIES:
            raise InvalidInputError(f"policy must be one of {POLICIES}: {self.policy!r}")
        if self.min_face_size < 12:
            raise InvalidInputError(f"min_face_size must be >= 12, got {self.min_face_size}")
        if self.num_workers < 1 or self.threads_per_worker < 1 or self.batch_size < 1:
            raise InvalidInputError("num_workers, threads_per_worker and batch_size must be >= 1")
        if self.output_format not in ("png", "jpg"):
            raise InvalidInputError(f"output_format must be png or jpg, got {self.output_format!r}")


@dataclasses.dataclass(frozen=True)
class AlignDatasetSummary:
    """Counts of one run, by manifest status, and the manifest's path."""

    counts: dict[str, int]
    manifest: Path

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def output_path(config: AlignDatasetConfig, source: Path, index: int | None = None) -> Path:
    """Mirror of ``source`` in the output tree (``index`` numbers faces for policy all)."""
    rel = source.relative_to(config.input_dir)
    stem = rel.stem if index is None else f"{rel.stem}_{index}"
    return config.output_dir / rel.parent / f"{stem}.{config.output_format}"


def finished_path(config: AlignDatasetConfig, source: Path) -> Path:
    """The file whose presence marks ``source`` done (written last)."""
    return output_path(config, source, 0 if config.policy == "all" else None)


def write_atomic(path: Path, image: np.ndarray, template: str | None = None) -> None:
    """Encodes an RGB crop and renames it into place (no partial file is ever visible).

    Args:
        path: destination (``.png`` or ``.jpg``).
        image: uint8 [H, W, 3] RGB.
        template: recorded inside the file (``provenance.embed_template``) when given.
    """
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise OSError(f"{path}: encoding failed")
    data = encoded.tobytes()
    if template is not None:
        data = embed_template(data, template)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- worker side ----------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(config: AlignDatasetConfig) -> None:
    """Builds the detector once per process."""
    from facenet_tf.align.detector import MTCNNDetector

    _WORKER["config"] = config
    _WORKER["detector"] = MTCNNDetector(
        min_face_size=config.min_face_size, batch_size=config.batch_size
    )


def _init_pool_worker(config: AlignDatasetConfig) -> None:
    """Pool initializer: thread budget first (before TensorFlow starts), then the detector."""
    import cv2
    import tensorflow as tf

    # Ctrl-C reaches the whole process group; only the parent should handle it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tf.config.threading.set_intra_op_parallelism_threads(config.threads_per_worker)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    _init_worker(config)


def _row(config, source, output, status, reason="", template="") -> dict[str, str]:
    return {
        "input": str(source.relative_to(config.input_dir)),
        "output": "" if output is None else str(output.relative_to(config.output_dir)),
        "status": status,
        "reason": reason,
        "template": template or "",
    }


def process_chunk(sources: Sequence[Path]) -> list[dict[str, str]]:
    """Aligns a batch of inputs in this worker; returns their manifest rows."""
    from facenet_tf.align.face_align import crop_face, select_faces
    from facenet_tf.io.images import read_image

    config, detector = _WORKER["config"], _WORKER["detector"]
    rows, images, kept = [], [], []
    for source in sources:
        try:
            image = read_image(source)
        except ImageTooLargeError as e:
            rows.append(_row(config, source, None, "too_large", str(e)))
            continue
        except ImageReadError as e:
            rows.append(_row(config, source, None, "unreadable", str(e)))
            continue
        if min(image.shape[:2]) < config.min_face_size:
            reason = (
                f"image {image.shape[1]}x{image.shape[0]} is smaller than the minimum face "
                f"size {config.min_face_size:g}"
            )
            rows.append(_row(config, source, None, "too_small", reason))
            continue
        images.append(image)
        kept.append(source)
    for source, image, faces in zip(kept, images, detector.detect_faces(images), strict=True):
        chosen = select_faces(faces, image.shape, config.policy)
        if not chosen:
            rows.append(_row(config, source, None, "no_face", "no face detected"))
            continue
        try:
            crops = [
                crop_face(
                    image, f, config.template, image_size=config.image_size, margin=config.margin
                )
                for f in chosen
            ]
            index = range(len(crops)) if config.policy == "all" else [None]
            paths = [output_path(config, source, k) for k in index]
            # The finished marker (first path) is written last.
            for path, crop in reversed(list(zip(paths, crops, strict=True))):
                write_atomic(path, crop, config.template)
            reason = f"{len(crops)} faces" if config.policy == "all" else ""
            rows.append(_row(config, source, paths[0], "aligned", reason, config.template))
        except Exception as e:  # noqa: BLE001 - one bad image must not stop the run
            rows.append(_row(config, source, None, "error", f"{type(e).__name__}: {e}"))
    return rows


# --- driver ---------------------------------------------------------------------------


def _remove_stale_tmp(output_dir: Path) -> None:
    """Deletes temporaries a killed run left behind (only our own suffix)."""
    if output_dir.is_dir():
        for path in output_dir.rglob(f"*{TMP_SUFFIX}"):
            path.unlink(missing_ok=True)


def _chunks(items: Sequence[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _results(config: AlignDatasetConfig, todo: list[Path]) -> Iterator[list[dict[str, str]]]:
    chunks = list(_chunks(todo, config.batch_size))
    if config.num_workers == 1 or len(chunks) <= 1:
        _init_worker(config)
        for chunk in chunks:
            yield process_chunk(chunk)
        return
    # spawn: TensorFlow is not fork-safe once initialised.
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(min(config.num_workers, len(chunks)), _init_pool_worker, (config,))
    try:
        yield from pool.imap_unordered(process_chunk, chunks)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def run(config: AlignDatasetConfig) -> AlignDatasetSummary:
    """Aligns every image under ``config.input_dir``; writes crops and the manifest.

    Returns:
        Status counts. The manifest is rewritten even when the run is interrupted (rows for
        what was done so far).
    """
    from tqdm import tqdm

    config.output_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(config.output_dir)
    rows: list[dict[str, str]] = []
    todo, claimed = [], {}
    for source in list_images(config.input_dir):
        target = finished_path(config, source)
        if target in claimed:
            reason = f"output name {target.name} already taken by {claimed[target].name}"
            rows.append(_row(config, source, None, "error", reason))
        elif target.exists():
            rows.append(_skip_row(config, source, target))
        else:
            todo.append(source)
        claimed.setdefault(target, source)
    bar = tqdm(total=len(todo), unit="img", disable=not config.progress, file=sys.stderr)
    try:
        for chunk_rows in _results(config, todo):
            rows.extend(chunk_rows)
            bar.update(len(chunk_rows))
    finally:
        bar.close()
        _write_manifest(config.manifest, rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return AlignDatasetSummary(counts, config.manifest)


def _skip_row(config: AlignDatasetConfig, source: Path, target: Path) -> dict[str, str]:
    """An existing output is kept only if it records the run's template (or none at all,
    as outputs of earlier versions do)."""
    try:
        found = read_template(target)
    except ImageReadError as e:
        return _row(config, source, None, "error", str(e))
    if found is not None and found != config.template:
        reason = (
            f"output exists, aligned with template {found!r}, not {config.template!r}: "
            "delete it or choose another output_dir"
        )
        return _row(config, source, target, "error", reason, found)
    return _row(config, source, target, "skipped", "output exists", found)


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["input"]))
    os.replace(tmp, path)
