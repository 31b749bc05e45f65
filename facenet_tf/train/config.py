"""The training configuration: one frozen dataclass, validated when it is built."""

from __future__ import annotations

import dataclasses
import glob
import os

import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.train import strategy as strategy_lib

LOSSES = ("semihard", "batch_hard", "batch_all")
OPTIMIZERS = ("adagrad", "sgd", "adam")
LR_SCHEDULES = ("constant", "piecewise", "cosine", "exponential")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DATA_FORMATS = ("auto", "folder", "tfrecord")
DISTANCES = ("squared_l2", "l2", "angular")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; ``__post_init__`` rejects bad values up front.

    Attributes:
        model: registry name (``facenet_tf.list_models()``) or a ``.keras`` file to
            start from.
        data_dir: aligned folder trees ``{identity}/{image}`` (merged by identity), or
            folders / glob patterns of TFRecord shards (``make_tfrecords``).
        workdir: checkpoints, summaries, metrics and the final models go here.
        embedding_dim: D of registry models.
        data_format: "auto" (TFRecord when shards are found), "folder" or "tfrecord".
        identities_per_batch: P, over the global batch (the paper: ~45).
        images_per_identity: K (the paper: ~40).
        min_images_per_identity: identities with fewer images are never sampled.
        shuffle_buffer: identities in the TFRecord shuffle buffer.
        train_box: normalised (y1, x1, y2, x2) face region of the training images.
        crop_scale, flip, brightness_delta, contrast_range, jpeg_quality_range, jpeg_prob:
            augmentation (see ``facenet_tf.data.AugmentConfig``).
        loss: "semihard" (paper), "batch_hard" or "batch_all".
        margin: alpha (0.2 in the paper on squared L2).
        distance: "squared_l2", "l2" or "angular".
        distill_targets: a teacher-embedding file (``python -m
            facenet_tf.train.distill_targets``) for the folder trees in ``data_dir``; ""
            trains with the triplet loss alone.
        distill_weight: weight of the distillation term ``mean ||f(x) - t(x)||^2``.
        distill_center: centre the targets on their mean and re-normalise
            (``facenet_tf.train.distill.load_targets``).
        optimizer: "adagrad" (paper), "sgd" (momentum 0.9) or "adam".
        learning_rate: base rate (paper: 0.05 with AdaGrad).
        lr_schedule: "constant", "piecewise" (``lr_boundaries`` steps, ``lr_values``
            rates, one more value than boundaries), "cosine" (to
            ``learning_rate * lr_alpha`` at ``train_steps``) or "exponential"
            (x ``lr_decay_rate`` every ``lr_decay_steps``).
        warmup_steps: linear warm-up from 0 before the schedule.
        weight_decay: decoupled weight decay of the optimizer (0: none).
        train_steps: total optimizer steps.
        max_train_minutes: stop earlier, with a checkpoint, the final validation and the
            exports, once training has run this long (0: no limit); a re-run goes on.
        seed: seeds initialisation and the data pipeline.
        precision: "float32", "mixed_bfloat16" or "mixed_float16" (with loss scaling).
        xla: compile the forward and backward pass with XLA.
        deterministic: enable TensorFlow op determinism (bit-identical reruns).
        strategy: "default", "mirrored", "multi_worker" or "tpu".
        tpu: TPU name or address for ``strategy="tpu"``.
        devices: devices for ``mirrored`` (empty: all GPUs, else the CPU).
        communication: multi-worker collectives: "auto", "ring" or "nccl".
        steps_per_loop: optimizer steps per ``tf.function`` call; logging, checkpoints
            and validation happen between calls.
        log_every, checkpoint_every, val_every: intervals in steps (multiples of
            ``steps_per_loop``; ``val_every=0`` validates only before and after).
        keep_checkpoints: how many recent checkpoints to keep.
        val_pairs: LFW view-1 ``pairsDevTest.txt`` ("" disables validation).
        val_images_dir: the LFW image tree the pairs refer to.
        val_box: normalised face region of the validation images.
        val_batch_size: images per forward pass during validation.
        progress: show a progress bar with ETA.
        export_saved_model: also export a SavedModel beside the ``.keras`` file.
    """

    model: str
    data_dir: tuple[str, ...]
    workdir: str
    embedding_dim: int = 128
    data_format: str = "auto"
    identities_per_batch: int = 45
    images_per_identity: int = 40
    min_images_per_identity: int = 2
    shuffle_buffer: int = 1024
    train_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    crop_scale: tuple[float, float] = (0.85, 1.0)
    flip: bool = True
    brightness_delta: float = 32.0
    contrast_range: tuple[float, float] = (0.7, 1.3)
    jpeg_quality_range: tuple[int, int] = (30, 95)
    jpeg_prob: float = 0.5
    loss: str = "semihard"
    margin: float = 0.2
    distance: str = "squared_l2"
    distill_targets: str = ""
    distill_weight: float = 1.0
    distill_center: bool = True
    optimizer: str = "adagrad"
    learning_rate: float = 0.05
    lr_schedule: str = "constant"
    lr_boundaries: tuple[int, ...] = ()
    lr_values: tuple[float, ...] = ()
    lr_alpha: float = 0.0
    lr_decay_steps: int = 1000
    lr_decay_rate: float = 0.5
    warmup_steps: int = 0
    weight_decay: float = 0.0
    train_steps: int = 10000
    max_train_minutes: float = 0.0
    seed: int = 0
    precision: str = "float32"
    xla: bool = False
    deterministic: bool = False
    strategy: str = "default"
    tpu: str = ""
    devices: tuple[str, ...] = ()
    communication: str = "auto"
    steps_per_loop: int = 1
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    val_every: int = 500
    val_pairs: str = ""
    val_images_dir: str = ""
    val_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    val_batch_size: int = 64
    progress: bool = True
    export_saved_model: bool = True

    def __post_init__(self):
        validate(self)

    @property
    def global_batch_size(self) -> int:
        return self.identities_per_batch * self.images_per_identity

    def resolved_data_format(self) -> str:
        """ "folder" or "tfrecord" ("auto" looks for shards)."""
        if self.data_format != "auto":
            return self.data_format
        return "tfrecord" if tfrecord_files(self.data_dir) else "folder"


def tfrecord_files(data_dir: tuple[str, ...]) -> list[str]:
    """TFRecord shards named by ``data_dir`` entries (folders or glob patterns), sorted."""
    files: list[str] = []
    for entry in data_dir:
        if tf.io.gfile.isdir(entry):
            files.extend(tf.io.gfile.glob(os.path.join(entry, "*.tfrecord")))
        elif glob.has_magic(entry):
            files.extend(tf.io.gfile.glob(entry))
        elif entry.endswith(".tfrecord") and tf.io.gfile.exists(entry):
            files.append(entry)
    return sorted(set(files))


def _fail(field: str, message: str):
    raise InvalidInputError(f"{field}: {message}")


def _check_box(field: str, box) -> None:
    if len(box) != 4:
        _fail(field, f"expected 4 numbers (y1, x1, y2, x2), got {tuple(box)}")
    y1, x1, y2, x2 = box
    if not (0.0 <= y1 < y2 <= 1.0 and 0.0 <= x1 < x2 <= 1.0):
        _fail(field, f"needs 0 <= y1 < y2 <= 1 and 0 <= x1 < x2 <= 1, got {tuple(box)}")


def _check_choice(field: str, value, choices) -> None:
    if value not in choices:
        _fail(field, f"must be one of {choices}, got {value!r}")


def _check_positive(config: TrainConfig, *fields: str, allow_zero: bool = False) -> None:
    for field in fields:
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(field, f"must be a number, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            _fail(field, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def validate(c: TrainConfig) -> None:
    """Raises InvalidInputError naming the first bad field of ``c``."""
    # Choices and numbers first: they need no file system.
    _check_choice("loss", c.loss, LOSSES)
    _check_choice("optimizer", c.optimizer, OPTIMIZERS)
    _check_choice("lr_schedule", c.lr_schedule, LR_SCHEDULES)
    _check_choice("precision", c.precision, PRECISIONS)
    _check_choice("data_format", c.data_format, DATA_FORMATS)
    _check_choice("distance", c.distance, DISTANCES)
    strategy_lib.check_strategy_args(c.strategy, c.tpu, c.communication)
    if c.devices and c.strategy != "mirrored":
        _fail("devices", f"only used with strategy='mirrored', got {c.strategy!r}")
    _check_positive(
        c,
        "embedding_dim",
        "identities_per_batch",
        "images_per_identity",
        "min_images_per_identity",
        "shuffle_buffer",
        "learning_rate",
        "train_steps",
        "steps_per_loop",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "val_batch_size",
        "lr_decay_steps",
        "lr_decay_rate",
    )
    _check_positive(
        c, "margin", "warmup_steps", "weight_decay", "brightness_delta", "val_every",
        "jpeg_prob", "lr_alpha", "seed", "max_train_minutes", "distill_weight", allow_zero=True,
    )  # fmt: skip
    if c.identities_per_batch < 2:
        _fail(
            "identities_per_batch",
            f"needs >= 2 identities for negatives, got {c.identities_per_batch}",
        )
    if c.images_per_identity < 2:
        _fail(
            "images_per_identity", f"needs >= 2 images for positives, got {c.images_per_identity}"
        )
    if c.jpeg_prob > 1:
        _fail("jpeg_prob", f"must be in [0, 1], got {c.jpeg_prob}")
    if c.lr_alpha > 1:
        _fail("lr_alpha", f"must be in [0, 1], got {c.lr_alpha}")
    lo, hi = c.crop_scale if len(c.crop_scale) == 2 else (0, 0)
    if not 0.0 < lo <= hi <= 1.0:
        _fail("crop_scale", f"needs 0 < min <= max <= 1, got {tuple(c.crop_scale)}")
    lo, hi = c.contrast_range if len(c.contrast_range) == 2 else (-1, -1)
    if not 0.0 <= lo <= hi:
        _fail("contrast_range", f"needs 0 <= lower <= upper, got {tuple(c.contrast_range)}")
    lo, hi = c.jpeg_quality_range if len(c.jpeg_quality_range) == 2 else (-1, -1)
    if not 0 <= lo <= hi <= 100:
        _fail("jpeg_quality_range", f"needs 0 <= min <= max <= 100, got {c.jpeg_quality_range}")
    _check_box("train_box", c.train_box)
    _check_box("val_box", c.val_box)
    if c.lr_schedule == "piecewise":
        if len(c.lr_values) != len(c.lr_boundaries) + 1:
            _fail("lr_values", "piecewise needs exactly one more value than lr_boundaries")
        if (
            list(c.lr_boundaries) != sorted(set(c.lr_boundaries))
            or min(c.lr_boundaries, default=1) < 1
        ):
            _fail("lr_boundaries", f"must be increasing positive steps, got {c.lr_boundaries}")
        if min(c.lr_values) <= 0:
            _fail("lr_values", f"must be > 0, got {c.lr_values}")
    elif c.lr_boundaries or c.lr_values:
        _fail("lr_boundaries", "lr_boundaries/lr_values are only used with lr_schedule=piecewise")
    if c.warmup_steps >= c.train_steps:
        _fail("warmup_steps", f"must be < train_steps ({c.train_steps}), got {c.warmup_steps}")
    for field in ("log_every", "checkpoint_every", "val_every"):
        if getattr(c, field) % c.steps_per_loop:
            _fail(field, f"must be a multiple of steps_per_loop={c.steps_per_loop}")
    if c.train_steps % c.steps_per_loop:
        _fail("train_steps", f"must be a multiple of steps_per_loop={c.steps_per_loop}")
    if c.precision == "mixed_float16" and c.strategy == "tpu":
        _fail("precision", "TPUs use mixed_bfloat16, not mixed_float16")
    if c.strategy == "tpu" and not c.xla:
        _fail("xla", "TPU programs are always compiled with XLA; pass --xla")
    # Then the file system.
    if not c.workdir:
        _fail("workdir", "required")
    if c.model.endswith(".keras"):
        if not tf.io.gfile.exists(c.model):
            _fail("model", f"{c.model}: no such file")
        if c.precision != "float32":
            _fail("precision", "a .keras model keeps its saved dtype policy; use a registry model")
    else:
        from facenet_tf.models.registry import list_models

        if c.model not in list_models():
            _fail("model", f"unknown model {c.model!r}; registered: {', '.join(list_models())}")
    if not c.data_dir:
        _fail("data_dir", "at least one folder or TFRecord pattern is required")
    fmt = c.resolved_data_format()
    if c.distill_targets and fmt != "folder":
        _fail("distill_targets", "needs folder-tree data (targets are looked up by path)")
    if fmt == "tfrecord" and not tfrecord_files(c.data_dir):
        _fail("data_dir", f"no TFRecord shards in {', '.join(c.data_dir)}")
    if fmt == "folder":
        for d in c.data_dir:
            if not tf.io.gfile.isdir(d):
                _fail("data_dir", f"{d}: no such folder")
    if c.distill_targets and not tf.io.gfile.exists(c.distill_targets):
        _fail("distill_targets", f"{c.distill_targets}: no such file")
    if c.val_pairs:
        if not tf.io.gfile.exists(c.val_pairs):
            _fail("val_pairs", f"{c.val_pairs}: no such file")
        if os.path.basename(c.val_pairs) == "pairs.txt":
            _fail(
                "val_pairs",
                "LFW view 2 (pairs.txt) is the benchmark; watch training on pairsDevTest.txt",
            )
        if not c.val_images_dir or not tf.io.gfile.isdir(c.val_images_dir):
            _fail("val_images_dir", f"{c.val_images_dir!r}: no such folder (needed by val_pairs)")
