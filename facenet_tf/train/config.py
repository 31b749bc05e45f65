"""The training configuration: one frozen dataclass, validated when it is built."""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import tensorflow as tf

from facenet_tf.data.pipeline import AugmentConfig
from facenet_tf.distances import DISTANCE_NAMES
from facenet_tf.errors import InvalidInputError
from facenet_tf.train import config_flags
from facenet_tf.train import strategy as strategy_lib

LOSSES = ("semihard", "batch_hard", "batch_all")
OPTIMIZERS = ("adagrad", "sgd", "adam")
LR_SCHEDULES = ("constant", "piecewise", "cosine", "exponential")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DATA_FORMATS = ("auto", "folder", "tfrecord")


def _choice(default: str, choices: tuple[str, ...]):
    """A string field restricted to ``choices`` (its flag is an enum)."""
    return dataclasses.field(default=default, metadata={"choices": choices})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything a training run needs; ``__post_init__`` rejects bad values up front.

    Each field is a flag of ``python -m facenet_tf.train.train`` with the help below;
    the fields of ``augment`` are ``--augment.<field>``.

    Attributes:
        model: registry name (facenet_tf.list_models()) or a .keras file to start from.
        data_dir: aligned folder trees {identity}/{image} (merged by identity), or
            folders / glob patterns of TFRecord shards (make_tfrecords).
        workdir: checkpoints, summaries, metrics, config.json and the final models.
        embedding_dim: D of registry models.
        data_format: "auto" (TFRecord when shards are found), "folder" or "tfrecord".
        identities_per_batch: P, over the global batch (the paper: ~45).
        images_per_identity: K (the paper: ~40).
        min_images_per_identity: identities with fewer images are never sampled.
        shuffle_buffer: identities in the TFRecord shuffle buffer.
        augment: preparation and augmentation of the training images
            (facenet_tf.data.AugmentConfig; its image_size is the model's input).
        loss: "semihard" (paper), "batch_hard" or "batch_all".
        margin: triplet margin alpha (0.2 in the paper on squared L2).
        distance: "squared_l2", "euclidean" ("l2") or "cosine" ("angular"); any name of
            facenet_tf.distances.DISTANCE_NAMES.
        distill_targets: a teacher-embedding file (python -m
            facenet_tf.train.distill_targets) for the folder trees in data_dir; ""
            trains with the triplet loss alone.
        distill_weight: weight of the distillation term mean ||f(x) - t(x)||^2.
        distill_center: centre the targets on their mean and re-normalise them.
        harmonic_targets: a reference model's vectors of the training images (python -m
            facenet_tf.train.distill_targets --teacher=REFERENCE), used as they are (never
            centred): adds the harmonic loss (facenet_tf.losses.harmonic_loss) so the
            trained model's vectors compare directly with the reference's; "" disables.
        harmonic_weight: weight of the harmonic loss beside the triplet loss.
        harmonic_margin: margin of the cross-model triplets, in units of distance (the
            reference's space sets the scale).
        harmonic_regression_weight: weight, inside the harmonic loss, of the mean
            distance between each image's vector and its reference vector.
        optimizer: "adagrad" (paper), "sgd" (momentum 0.9) or "adam".
        learning_rate: base rate (paper: 0.05 with AdaGrad).
        lr_schedule: "constant", "piecewise", "cosine" (to learning_rate * lr_alpha at
            train_steps) or "exponential".
        lr_boundaries: piecewise: the steps where the rate changes.
        lr_values: piecewise: the rates, one more than lr_boundaries.
        lr_alpha: cosine: the final rate as a fraction of learning_rate.
        lr_decay_steps: exponential: steps between decays.
        lr_decay_rate: exponential: factor applied every lr_decay_steps.
        warmup_steps: linear warm-up from 0 before the schedule.
        weight_decay: decoupled weight decay of the optimizer (0: none).
        train_steps: total optimizer steps.
        max_train_minutes: stop earlier, with a checkpoint, the final validation and the
            exports, once training has run this long (0: no limit); a re-run goes on.
        seed: seeds initialisation and the data pipeline.
        precision: "float32", "mixed_bfloat16" or "mixed_float16" (with loss scaling).
        xla: compile the forward and backward pass with XLA.
        fused_layers: run BatchNormalization and PReLU in the training step through
            fused kernels (``facenet_tf.train.fast_layers``): the same function, other
            float rounding, about 2x faster on a CPU; off: Keras's own layers.
        deterministic: enable TensorFlow op determinism (bit-identical reruns).
        strategy: "default", "mirrored", "multi_worker" or "tpu".
        tpu: TPU name, grpc:// address or "local", for strategy "tpu".
        devices: devices for strategy "mirrored" (empty: all GPUs, else the CPU).
        communication: multi-worker collectives: "auto", "ring" or "nccl".
        steps_per_loop: optimizer steps per tf.function call; logging, checkpoints and
            validation happen between calls.
        log_every: steps between logged metrics (a multiple of steps_per_loop).
        checkpoint_every: steps between checkpoints (a multiple of steps_per_loop).
        keep_checkpoints: how many recent checkpoints to keep.
        val_every: steps between validations (a multiple of steps_per_loop; 0:
            before and after training only).
        val_pairs: LFW view-1 pairsDevTest.txt ("" disables validation).
        val_images_dir: the raw LFW image tree the pairs refer to (photos go through
            the face pipeline of the model being trained).
        val_batch_size: images per forward pass during validation.
        progress: show a progress bar with ETA.
        export_saved_model: also export a SavedModel beside the .keras file.
    """

    model: str = "nn4"
    data_dir: tuple[str, ...]
    workdir: str
    embedding_dim: int = 128
    data_format: str = _choice("auto", DATA_FORMATS)
    identities_per_batch: int = 45
    images_per_identity: int = 40
    min_images_per_identity: int = 2
    shuffle_buffer: int = 1024
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    loss: str = _choice("semihard", LOSSES)
    margin: float = 0.2
    distance: str = _choice("squared_l2", DISTANCE_NAMES)
    distill_targets: str = ""
    distill_weight: float = 1.0
    distill_center: bool = True
    harmonic_targets: str = ""
    harmonic_weight: float = 1.0
    harmonic_margin: float = 0.2
    harmonic_regression_weight: float = 0.0
    optimizer: str = _choice("adagrad", OPTIMIZERS)
    learning_rate: float = 0.05
    lr_schedule: str = _choice("constant", LR_SCHEDULES)
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
    precision: str = _choice("float32", PRECISIONS)
    xla: bool = False
    fused_layers: bool = True
    deterministic: bool = False
    strategy: str = _choice("default", strategy_lib.STRATEGIES)
    tpu: str = ""
    devices: tuple[str, ...] = ()
    communication: str = _choice("auto", strategy_lib.COMMUNICATIONS)
    steps_per_loop: int = 1
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    val_every: int = 500
    val_pairs: str = ""
    val_images_dir: str = ""
    val_batch_size: int = 64
    progress: bool = True
    export_saved_model: bool = True

    def __post_init__(self):
        # Plain values (JSON lists, a mapping for ``augment``) become the declared types.
        config_flags.convert_fields(self)
        validate(self)

    @property
    def global_batch_size(self) -> int:
        return self.identities_per_batch * self.images_per_identity

    def resolved_data_format(self) -> str:
        """ "folder" or "tfrecord" ("auto" looks for shards)."""
        if self.data_format != "auto":
            return self.data_format
        return "tfrecord" if tfrecord_files(self.data_dir) else "folder"


# Fields without a flag: the model's input decides the training image size.
NOT_FLAGS = ("augment.image_size",)


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
    y1, x1, y2, x2 = box
    if not (0.0 <= y1 < y2 <= 1.0 and 0.0 <= x1 < x2 <= 1.0):
        _fail(field, f"needs 0 <= y1 < y2 <= 1 and 0 <= x1 < x2 <= 1, got {tuple(box)}")


def _check_positive(obj, *fields: str, prefix: str = "", allow_zero: bool = False) -> None:
    for field in fields:
        value = getattr(obj, field)
        if value < 0 or (value == 0 and not allow_zero):
            _fail(prefix + field, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _check_augment(a: AugmentConfig) -> None:
    if a.image_size is not None:
        _fail("augment.image_size", "the model's input size is used; leave it unset")
    _check_positive(a, "brightness_delta", "jpeg_prob", prefix="augment.", allow_zero=True)
    if a.jpeg_prob > 1:
        _fail("augment.jpeg_prob", f"must be in [0, 1], got {a.jpeg_prob}")
    lo, hi = a.crop_scale
    if not 0.0 < lo <= hi <= 1.0:
        _fail("augment.crop_scale", f"needs 0 < min <= max <= 1, got {a.crop_scale}")
    lo, hi = a.contrast_range
    if not 0.0 <= lo <= hi:
        _fail("augment.contrast_range", f"needs 0 <= lower <= upper, got {a.contrast_range}")
    lo, hi = a.jpeg_quality_range
    if not 0 <= lo <= hi <= 100:
        _fail(
            "augment.jpeg_quality_range",
            f"needs 0 <= min <= max <= 100, got {a.jpeg_quality_range}",
        )
    _check_box("augment.box", a.box)


def validate(c: TrainConfig) -> None:
    """Raises InvalidInputError naming the first bad field of ``c``."""
    # Choices and numbers first: they need no file system.
    for field in dataclasses.fields(c):
        choices = field.metadata.get("choices")
        if choices and getattr(c, field.name) not in choices:
            _fail(field.name, f"must be one of {choices}, got {getattr(c, field.name)!r}")
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
        c, "margin", "warmup_steps", "weight_decay", "val_every", "lr_alpha", "seed",
        "max_train_minutes", "distill_weight", "harmonic_weight", "harmonic_margin",
        "harmonic_regression_weight", allow_zero=True,
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
    if c.lr_alpha > 1:
        _fail("lr_alpha", f"must be in [0, 1], got {c.lr_alpha}")
    _check_augment(c.augment)
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
    if c.harmonic_targets:
        if c.distill_targets:
            _fail(
                "harmonic_targets",
                "cannot be combined with distill_targets (one target per image); the "
                "harmonic loss regresses to its reference with harmonic_regression_weight",
            )
        if fmt != "folder":
            _fail("harmonic_targets", "needs folder-tree data (targets are looked up by path)")
    if fmt == "tfrecord" and not tfrecord_files(c.data_dir):
        _fail("data_dir", f"no TFRecord shards in {', '.join(c.data_dir)}")
    if fmt == "folder":
        for d in c.data_dir:
            if not tf.io.gfile.isdir(d):
                _fail("data_dir", f"{d}: no such folder")
    if c.distill_targets and not tf.io.gfile.exists(c.distill_targets):
        _fail("distill_targets", f"{c.distill_targets}: no such file")
    if c.harmonic_targets:
        if not tf.io.gfile.exists(c.harmonic_targets):
            _fail("harmonic_targets", f"{c.harmonic_targets}: no such file")
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


# The resolved config of a run, written to its workdir when the run starts.
CONFIG_FILE = "config.json"

# Fields a run may change when it resumes in a workdir. None of them changes what a
# training step computes from (weights, step): batch s depends only on (seed, s), and
# every strategy trains on the same global batch (tested equal to one device).
RESUMABLE_FIELDS = frozenset(
    {
        # Budgets: how long the run goes on.
        "train_steps",  # but see _FIXED_BY_SCHEDULE
        "max_train_minutes",
        # Intervals: when it logs, saves, keeps checkpoints and validates.
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "val_every",
        # Reporting: display, validation batching, the final exports.
        "progress",
        "val_batch_size",
        "export_saved_model",
        # Placement: the same computation on other hardware (a recreated TPU, fewer GPUs).
        "strategy",
        "tpu",
        "devices",
        "communication",
        # The same function computed by other kernels (float rounding only).
        "fused_layers",
        # The same folder reached under another path (moved, mounted elsewhere).
        "workdir",
    }
)
# A cosine schedule decays over train_steps: a new budget would change the rates of the
# steps still to run, so with it train_steps is fixed too.
_FIXED_BY_SCHEDULE = {"cosine": ("train_steps",)}


class ConfigMismatchError(InvalidInputError):
    """The workdir holds a run made with another config.

    Attributes:
        path: the saved config file.
        differences: field path (``augment.flip``) -> (saved value, new value).
    """

    def __init__(self, message: str, path: str = "", differences: dict | None = None):
        super().__init__(message)
        self.path = path
        self.differences = differences or {}


def to_json(config: TrainConfig) -> str:
    """``dataclasses.asdict(config)`` as JSON (tuples become lists)."""
    return json.dumps(dataclasses.asdict(config), indent=2) + "\n"


def read_json(path: str) -> dict:
    """The values of a config JSON file (``config.json`` of a run, or written by hand).

    Raises:
        InvalidInputError: the file is missing or is not a JSON object.
    """
    try:
        with tf.io.gfile.GFile(path) as f:
            values = json.load(f)
    except (tf.errors.NotFoundError, OSError) as err:
        raise InvalidInputError(f"config: {path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"config: {path}: not valid JSON ({err})") from None
    if not isinstance(values, dict):
        raise InvalidInputError(f"config: {path}: expected a JSON object")
    return values


def load(path: str) -> TrainConfig:
    """The (validated) config of a config JSON file."""
    return config_flags.from_dict(TrainConfig, read_json(path))


def write(config: TrainConfig) -> str:
    """Writes ``config`` to ``{workdir}/config.json`` atomically; returns the path."""
    path = os.path.join(config.workdir, CONFIG_FILE)
    tf.io.gfile.makedirs(config.workdir)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(to_json(config))
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


_ABSENT = "<absent>"


def _same_path(old, new) -> bool:
    """Two strings naming the same existing local file or folder (one given relative,
    the other absolute, say); remote (``gs://``) and missing paths compare as text."""
    if not (isinstance(old, str) and isinstance(new, str)) or "://" in old + new:
        return False
    return os.path.exists(old) and os.path.exists(new) and os.path.samefile(old, new)


def _same(old, new) -> bool:
    if old == new:
        return True
    if isinstance(old, list | tuple) and isinstance(new, list | tuple) and len(old) == len(new):
        return all(_same(a, b) for a, b in zip(old, new, strict=True))
    return _same_path(old, new)


def differences(saved: dict, config: TrainConfig) -> dict[str, tuple]:
    """Field path -> (saved, new) for every field whose value differs (JSON values).

    Paths that name the same existing file or folder, spelled differently (relative and
    absolute), are not a difference."""
    old = _flatten(saved)
    new = _flatten(json.loads(to_json(config)))
    return {
        key: (old.get(key, _ABSENT), new.get(key, _ABSENT))
        for key in sorted(old.keys() | new.keys())
        if not _same(old.get(key, _ABSENT), new.get(key, _ABSENT))
    }


def check_resume(config: TrainConfig) -> None:
    """Refuses to resume in a workdir whose saved config differs beyond RESUMABLE_FIELDS.

    Does nothing when the workdir holds no saved config.

    Raises:
        ConfigMismatchError: naming every differing field with its saved and new value.
    """
    path = os.path.join(config.workdir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        return
    allowed = RESUMABLE_FIELDS - set(_FIXED_BY_SCHEDULE.get(config.lr_schedule, ()))
    diffs = {k: v for k, v in differences(read_json(path), config).items() if k not in allowed}
    if diffs:
        listed = "; ".join(f"{k}: {old!r} (saved) -> {new!r}" for k, (old, new) in diffs.items())
        raise ConfigMismatchError(
            f"workdir: {config.workdir} holds a run with another config ({path}): {listed}. "
            f"Resume with the saved values (--config={path}) or use another workdir; only "
            f"{', '.join(sorted(allowed))} may change on resume",
            path,
            diffs,
        )
