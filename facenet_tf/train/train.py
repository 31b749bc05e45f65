r"""Trains a FaceNet embedding with the triplet loss on identity-balanced batches.

Example (one device):
  python -m facenet_tf.train.train --model=nn4 --data_dir=/data/aligned \
      --workdir=/tmp/nn4 --identities_per_batch=45 --images_per_identity=40 \
      --val_pairs=/data/lfw/pairsDevTest.txt --val_images_dir=/data/lfw/lfw-deepfunneled

Several GPUs: ``--strategy=mirrored``; a cluster: ``--strategy=multi_worker`` with
TF_CONFIG set on every worker; a TPU: ``--strategy=tpu --tpu=NAME --xla
--precision=mixed_bfloat16``. Any flag can come from a file: ``--flagfile=run.flags``.
Re-running the same command resumes from the newest intact checkpoint in the workdir.
The configuration is validated before any device, file or model is touched.
"""

from __future__ import annotations

from absl import app, flags

from facenet_tf.errors import InvalidInputError
from facenet_tf.train import config as config_lib

_D = config_lib.TrainConfig  # defaults come from the dataclass, the single source of truth


def _default(name: str):
    return next(f.default for f in config_lib.dataclasses.fields(_D) if f.name == name)


def _floats(name: str) -> list[str]:
    return [str(v) for v in _default(name)]


_MODEL = flags.DEFINE_string("model", "nn4", "Registry model name or a .keras file to start from.")
_DATA_DIR = flags.DEFINE_list("data_dir", None, "Aligned folder trees, or TFRecord folders/globs.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, summaries and final models.")
_EMBEDDING_DIM = flags.DEFINE_integer(
    "embedding_dim", _default("embedding_dim"), "Embedding size D."
)
_DATA_FORMAT = flags.DEFINE_enum(
    "data_format", "auto", config_lib.DATA_FORMATS, "Input format ('auto' looks for shards)."
)
_P = flags.DEFINE_integer("identities_per_batch", _default("identities_per_batch"), "P.")
_K = flags.DEFINE_integer("images_per_identity", _default("images_per_identity"), "K.")
_MIN_IMAGES = flags.DEFINE_integer(
    "min_images_per_identity", _default("min_images_per_identity"), "Never sample smaller ids."
)
_SHUFFLE_BUFFER = flags.DEFINE_integer(
    "shuffle_buffer", _default("shuffle_buffer"), "TFRecord identity shuffle buffer."
)
_TRAIN_BOX = flags.DEFINE_list("train_box", _floats("train_box"), "Face box y1,x1,y2,x2 (0..1).")
_CROP_SCALE = flags.DEFINE_list("crop_scale", _floats("crop_scale"), "Random crop side min,max.")
_FLIP = flags.DEFINE_boolean("flip", _default("flip"), "Random left-right flips.")
_BRIGHTNESS = flags.DEFINE_float("brightness_delta", _default("brightness_delta"), "Pixels.")
_CONTRAST = flags.DEFINE_list("contrast_range", _floats("contrast_range"), "lower,upper.")
_JPEG_RANGE = flags.DEFINE_list(
    "jpeg_quality_range", _floats("jpeg_quality_range"), "JPEG re-encoding quality min,max."
)
_JPEG_PROB = flags.DEFINE_float("jpeg_prob", _default("jpeg_prob"), "JPEG re-encoding rate.")
_LOSS = flags.DEFINE_enum("loss", _default("loss"), config_lib.LOSSES, "Triplet loss.")
_MARGIN = flags.DEFINE_float("margin", _default("margin"), "Triplet margin alpha.")
_DISTANCE = flags.DEFINE_enum("distance", _default("distance"), config_lib.DISTANCES, "Distance.")
_DISTILL = flags.DEFINE_string(
    "distill_targets", "", "Teacher embeddings (distill_targets binary); '' disables."
)
_DISTILL_WEIGHT = flags.DEFINE_float(
    "distill_weight", _default("distill_weight"), "Weight of the distillation term."
)
_DISTILL_CENTER = flags.DEFINE_boolean(
    "distill_center", _default("distill_center"), "Centre and re-normalise the targets."
)
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", _default("optimizer"), config_lib.OPTIMIZERS, "Optimizer."
)
_LR = flags.DEFINE_float("learning_rate", _default("learning_rate"), "Base learning rate.")
_LR_SCHEDULE = flags.DEFINE_enum(
    "lr_schedule", _default("lr_schedule"), config_lib.LR_SCHEDULES, "Schedule."
)
_LR_BOUNDARIES = flags.DEFINE_list("lr_boundaries", [], "Piecewise: boundary steps.")
_LR_VALUES = flags.DEFINE_list("lr_values", [], "Piecewise: one more rate than boundaries.")
_LR_ALPHA = flags.DEFINE_float("lr_alpha", _default("lr_alpha"), "Cosine: final fraction.")
_LR_DECAY_STEPS = flags.DEFINE_integer("lr_decay_steps", _default("lr_decay_steps"), "Exp.")
_LR_DECAY_RATE = flags.DEFINE_float("lr_decay_rate", _default("lr_decay_rate"), "Exp.")
_WARMUP = flags.DEFINE_integer("warmup_steps", _default("warmup_steps"), "Linear warm-up.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", _default("weight_decay"), "Decoupled.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", _default("train_steps"), "Total steps.")
_MAX_MINUTES = flags.DEFINE_float(
    "max_train_minutes", _default("max_train_minutes"), "Stop after this long (0: never)."
)
_SEED = flags.DEFINE_integer("seed", _default("seed"), "Initialisation and data seed.")
_PRECISION = flags.DEFINE_enum(
    "precision", _default("precision"), config_lib.PRECISIONS, "Mixed precision policy."
)
_XLA = flags.DEFINE_boolean("xla", _default("xla"), "XLA-compile forward and backward.")
_DETERMINISTIC = flags.DEFINE_boolean(
    "deterministic", _default("deterministic"), "TensorFlow op determinism."
)
_STRATEGY = flags.DEFINE_enum(
    "strategy", _default("strategy"), ("default", "mirrored", "multi_worker", "tpu"), "Strategy."
)
_TPU = flags.DEFINE_string("tpu", "", "TPU name, grpc:// address or 'local'.")
_DEVICES = flags.DEFINE_list("devices", [], "Devices for --strategy=mirrored.")
_COMMUNICATION = flags.DEFINE_enum(
    "communication", "auto", ("auto", "ring", "nccl"), "Multi-worker collectives."
)
_STEPS_PER_LOOP = flags.DEFINE_integer(
    "steps_per_loop", _default("steps_per_loop"), "Steps per tf.function call."
)
_LOG_EVERY = flags.DEFINE_integer("log_every", _default("log_every"), "Steps between logs.")
_CKPT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", _default("checkpoint_every"), "Steps between checkpoints."
)
_KEEP = flags.DEFINE_integer("keep_checkpoints", _default("keep_checkpoints"), "Kept ckpts.")
_VAL_EVERY = flags.DEFINE_integer("val_every", _default("val_every"), "0: start and end only.")
_VAL_PAIRS = flags.DEFINE_string("val_pairs", "", "LFW pairsDevTest.txt ('' disables).")
_VAL_IMAGES = flags.DEFINE_string("val_images_dir", "", "LFW image tree for val_pairs.")
_VAL_BOX = flags.DEFINE_list("val_box", _floats("val_box"), "Face box of LFW images.")
_VAL_BATCH = flags.DEFINE_integer("val_batch_size", _default("val_batch_size"), "Batch.")
_PROGRESS = flags.DEFINE_boolean("progress", _default("progress"), "Progress bar with ETA.")
_EXPORT = flags.DEFINE_boolean(
    "export_saved_model", _default("export_saved_model"), "Also export a SavedModel."
)


def _numbers(holder: flags.FlagHolder, kind=float) -> tuple:
    try:
        return tuple(kind(float(v)) if kind is int else kind(v) for v in holder.value)
    except ValueError:
        raise InvalidInputError(f"{holder.name}: expected numbers, got {holder.value}") from None


def config_from_flags() -> config_lib.TrainConfig:
    """Builds (and so validates) the config from the parsed flags."""
    return config_lib.TrainConfig(
        model=_MODEL.value,
        data_dir=tuple(_DATA_DIR.value or ()),
        workdir=_WORKDIR.value or "",
        embedding_dim=_EMBEDDING_DIM.value,
        data_format=_DATA_FORMAT.value,
        identities_per_batch=_P.value,
        images_per_identity=_K.value,
        min_images_per_identity=_MIN_IMAGES.value,
        shuffle_buffer=_SHUFFLE_BUFFER.value,
        train_box=_numbers(_TRAIN_BOX),
        crop_scale=_numbers(_CROP_SCALE),
        flip=_FLIP.value,
        brightness_delta=_BRIGHTNESS.value,
        contrast_range=_numbers(_CONTRAST),
        jpeg_quality_range=_numbers(_JPEG_RANGE, int),
        jpeg_prob=_JPEG_PROB.value,
        loss=_LOSS.value,
        margin=_MARGIN.value,
        distance=_DISTANCE.value,
        distill_targets=_DISTILL.value,
        distill_weight=_DISTILL_WEIGHT.value,
        distill_center=_DISTILL_CENTER.value,
        optimizer=_OPTIMIZER.value,
        learning_rate=_LR.value,
        lr_schedule=_LR_SCHEDULE.value,
        lr_boundaries=_numbers(_LR_BOUNDARIES, int),
        lr_values=_numbers(_LR_VALUES),
        lr_alpha=_LR_ALPHA.value,
        lr_decay_steps=_LR_DECAY_STEPS.value,
        lr_decay_rate=_LR_DECAY_RATE.value,
        warmup_steps=_WARMUP.value,
        weight_decay=_WEIGHT_DECAY.value,
        train_steps=_TRAIN_STEPS.value,
        max_train_minutes=_MAX_MINUTES.value,
        seed=_SEED.value,
        precision=_PRECISION.value,
        xla=_XLA.value,
        deterministic=_DETERMINISTIC.value,
        strategy=_STRATEGY.value,
        tpu=_TPU.value,
        devices=tuple(_DEVICES.value),
        communication=_COMMUNICATION.value,
        steps_per_loop=_STEPS_PER_LOOP.value,
        log_every=_LOG_EVERY.value,
        checkpoint_every=_CKPT_EVERY.value,
        keep_checkpoints=_KEEP.value,
        val_every=_VAL_EVERY.value,
        val_pairs=_VAL_PAIRS.value,
        val_images_dir=_VAL_IMAGES.value,
        val_box=_numbers(_VAL_BOX),
        val_batch_size=_VAL_BATCH.value,
        progress=_PROGRESS.value,
        export_saved_model=_EXPORT.value,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags()
    except InvalidInputError as err:
        raise app.UsageError(str(err)) from None
    # Imported only now: nothing heavy runs before the config is known to be valid.
    from facenet_tf.train import train_lib

    result = train_lib.run(config)
    if result.keras_path:
        print(f"trained to step {result.final_step}; model saved to {result.keras_path}")


if __name__ == "__main__":
    app.run(main)
