"""Identity-balanced training datasets from folder trees and TFRecord shards.

Both builders return per-replica batches ``{"image": float32 [P_r * K, H, W, 3] in [0, 255],
"label": int32 [P_r * K]}`` with fully static shapes and only graph ops (no
``py_function``), ready for ``strategy.distribute_datasets_from_function``. Each
replica's batch holds ``P_r = P / num_replicas`` whole identities, K images each, so the
loss can mine inside every replica's batch and, gathered, over the global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from facenet_tf.data import ops, schema
from facenet_tf.data.folder import ImageIndex
from facenet_tf.data.sampler import IdentityTable, build_identity_table, sample_pk
from facenet_tf.errors import InvalidInputError

AUTOTUNE = tf.data.AUTOTUNE
# Distinct salts keep the sampler's and the images' random streams apart.
_IMAGE_SALT = 2
_RECORD_SALT = 3
_SHUFFLE_SALT = 4
# The pipeline functions are plain graph code: autograph would only add tracing time
# (seconds per function on a busy CPU).
_plain = tf.autograph.experimental.do_not_convert


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Preparation and augmentation of one training face.

    Attributes:
        image_size: (height, width) of the model input; None in a training config,
            where the model's input decides it.
        box: normalised (y1, x1, y2, x2) face region of the stored images, cropped then
            resized to ``image_size`` (the whole image by default).
        crop_scale: (min, max) side of the random crop as a fraction of ``box``;
            (1, 1) disables random cropping.
        flip: random left-right mirroring.
        brightness_delta: max brightness offset in pixel units (0 disables).
        contrast_range: (lower, upper) contrast factor ((1, 1) disables).
        jpeg_quality_range: (min, max) JPEG quality of the random re-encoding.
        jpeg_prob: probability of re-encoding an image as JPEG (0 disables).
    """

    image_size: tuple[int, int] | None = None
    box: tuple[float, float, float, float] = ops.FULL_BOX
    crop_scale: tuple[float, float] = (0.85, 1.0)
    flip: bool = True
    brightness_delta: float = 32.0
    contrast_range: tuple[float, float] = (0.7, 1.3)
    jpeg_quality_range: tuple[int, int] = (30, 95)
    jpeg_prob: float = 0.5


def augment_op(config: AugmentConfig, training: bool = True) -> ops.Op:
    """Encoded bytes + seed -> float32 [H, W, 3] face, augmented when ``training``."""
    if config.image_size is None:
        raise InvalidInputError("image_size: required (the model's input height, width)")
    if not training:
        return ops.compose(
            ops.decode(),
            ops.crop_and_resize(config.image_size, config.box),
            ops.clip_pixels(),
        )
    chain = [ops.decode()]
    if tuple(config.crop_scale) == (1.0, 1.0):
        chain.append(ops.crop_and_resize(config.image_size, config.box))
    else:
        chain.append(ops.random_crop_and_resize(config.image_size, config.box, config.crop_scale))
    if config.flip:
        chain.append(ops.random_flip())
    if config.brightness_delta > 0:
        chain.append(ops.random_brightness(config.brightness_delta))
    if tuple(config.contrast_range) != (1.0, 1.0):
        chain.append(ops.random_contrast(*config.contrast_range))
    if config.jpeg_prob > 0:
        chain.append(ops.random_jpeg_quality(*config.jpeg_quality_range, prob=config.jpeg_prob))
    chain.append(ops.clip_pixels())
    return ops.compose(*chain)


@dataclasses.dataclass(frozen=True)
class ReplicaLayout:
    """Which replicas of the global batch one input pipeline feeds.

    Attributes:
        num_replicas: replicas in sync, all workers together.
        first_replica: global index of this pipeline's first replica.
        local_replicas: replicas fed by this pipeline (they take its batches in turn).
    """

    num_replicas: int = 1
    first_replica: int = 0
    local_replicas: int = 1

    @classmethod
    def from_input_context(cls, ctx: tf.distribute.InputContext | None) -> ReplicaLayout:
        if ctx is None:
            return cls()
        local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        return cls(ctx.num_replicas_in_sync, ctx.input_pipeline_id * local, local)

    def identities_per_replica(self, identities_per_batch: int) -> int:
        if identities_per_batch % self.num_replicas:
            raise InvalidInputError(
                f"identities_per_batch={identities_per_batch} must be divisible by the "
                f"{self.num_replicas} replicas so every replica gets whole identities"
            )
        return identities_per_batch // self.num_replicas


def pk_index_dataset(
    table: IdentityTable,
    identities_per_batch: int,
    images_per_identity: int,
    seed: int = 0,
    start_step: int = 0,
    num_steps: int | None = None,
    layout: ReplicaLayout = ReplicaLayout(),
) -> tf.data.Dataset:
    """Per-image ``{"index", "label", "seed"}`` of this pipeline's share of each P x K batch.

    Elements come step by step, and inside a step replica by replica, so batching every
    ``P_r * K`` consecutive elements yields the replicas' batches in turn. Image seeds
    depend on (seed, step, position in the global batch) only.

    Returns:
        Elements ``{"index": int32 [], "label": int32 [], "seed": int64 [2]}``.
    """
    p, k = identities_per_batch, images_per_identity
    p_r = layout.identities_per_replica(p)
    root = ops.base_seed(seed)
    rows = slice(layout.first_replica * p_r, (layout.first_replica + layout.local_replicas) * p_r)
    stop = start_step + num_steps if num_steps is not None else 2**62

    def per_step(step):
        index, label = sample_pk(table, step, root, p, k)
        label = tf.repeat(label[:, None], k, axis=1)
        position = tf.reshape(tf.range(p * k, dtype=tf.int64), [p, k])
        index, label, position = (tf.reshape(t[rows], [-1]) for t in (index, label, position))
        step_seed = ops.fold_seed(root, step, _IMAGE_SALT)
        seeds = tf.map_fn(
            lambda pos: ops.fold_seed(step_seed, pos),
            position,
            fn_output_signature=tf.TensorSpec([2], tf.int64),
        )
        return tf.data.Dataset.from_tensor_slices({"index": index, "label": label, "seed": seeds})

    return tf.data.Dataset.range(start_step, stop).flat_map(_plain(per_step))


_BATCH_KEYS = ("image", "label", "target", "has_target")


def _finish(ds: tf.data.Dataset, per_replica_batch: int) -> tf.data.Dataset:
    ds = ds.map(_plain(lambda d: {k: d[k] for k in _BATCH_KEYS if k in d}))
    return ds.batch(per_replica_batch, drop_remainder=True).prefetch(AUTOTUNE)


def folder_pk_dataset(
    index: ImageIndex,
    augment: ops.Op,
    identities_per_batch: int,
    images_per_identity: int,
    seed: int = 0,
    min_images_per_identity: int = 2,
    start_step: int = 0,
    num_steps: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    num_parallel_calls: int = AUTOTUNE,
    targets: np.ndarray | None = None,
    has_target: np.ndarray | None = None,
) -> tf.data.Dataset:
    """P x K batches from an aligned folder tree; batch ``s`` depends on (seed, s) only.

    Args:
        index: the images (``scan_folder_tree``).
        augment: op mapping ``{"encoded", "seed", ...}`` to ``{"image", ...}``
            (``augment_op``).
        identities_per_batch: P, for the global batch over all replicas.
        images_per_identity: K.
        seed: dataset seed.
        min_images_per_identity: identities with fewer images are never drawn.
        start_step: first batch number (resume from a checkpoint at this step).
        num_steps: number of batches (None: endless).
        input_context: from ``distribute_datasets_from_function`` (None: one replica).
        num_parallel_calls: parallelism of decoding; results keep their order.
        targets: optional float32 [N, D] per-image distillation targets
            (``facenet_tf.train.distill.load_targets``), in ``index`` order.
        has_target: bool [N], which rows of ``targets`` are real (default: all).

    Returns:
        Per-replica batches ``{"image": float32 [P_r * K, H, W, 3], "label": int32 [P_r * K]}``,
        plus ``"target"`` float32 [P_r * K, D] and ``"has_target"`` float32 [P_r * K]
        when ``targets`` is given.
    """
    layout = ReplicaLayout.from_input_context(input_context)
    table = build_identity_table(index.labels, min_images_per_identity)
    paths = tf.constant(list(index.paths))
    ds = pk_index_dataset(
        table, identities_per_batch, images_per_identity, seed, start_step, num_steps, layout
    )
    extra = {}
    if targets is not None:
        targets = np.asarray(targets, np.float32)
        if targets.ndim != 2 or len(targets) != len(index):
            raise InvalidInputError(
                f"targets: expected [{len(index)}, D] (one row per image), got {targets.shape}"
            )
        mask = np.ones(len(index), bool) if has_target is None else np.asarray(has_target, bool)
        extra = {"target": tf.constant(targets), "has_target": tf.constant(mask, tf.float32)}

    def load(d):
        d = {**d, **{k: tf.gather(v, d["index"]) for k, v in extra.items()}}
        return augment({**d, "encoded": tf.io.read_file(tf.gather(paths, d["index"]))})

    ds = ds.map(_plain(load), num_parallel_calls=num_parallel_calls, deterministic=True)
    return _finish(ds, layout.identities_per_replica(identities_per_batch) * images_per_identity)


def tfrecord_pk_dataset(
    files: Sequence[str],
    augment: ops.Op,
    identities_per_batch: int,
    images_per_identity: int,
    seed: int = 0,
    min_images_per_identity: int = 2,
    start_step: int = 0,
    shuffle_buffer: int = 1024,
    input_context: tf.distribute.InputContext | None = None,
    num_parallel_calls: int = AUTOTUNE,
) -> tf.data.Dataset:
    """P x K batches streamed from identity-major TFRecord shards (``schema``).

    Shards are read in a seeded order and identities shuffled in a buffer of
    ``shuffle_buffer`` records, endlessly; K images are drawn inside each record as in
    ``sample_pk`` (cycling when an identity has fewer than K). With several input
    pipelines each reads its own subset of shards (or of records, when there are fewer
    shards than pipelines). Deterministic given the seed; ``start_step`` skips records
    without decoding their images. Within a batch an identity can repeat when the
    stream wraps around an epoch.

    Returns:
        Per-replica batches ``{"image": float32 [P_r * K, H, W, 3], "label": int32 [P_r * K]}``.
    """
    files = sorted(files)
    if not files:
        raise InvalidInputError("data_dir: no TFRecord shards found")
    layout = ReplicaLayout.from_input_context(input_context)
    p_r = layout.identities_per_replica(identities_per_batch)
    k = images_per_identity
    pipelines = max(1, layout.num_replicas // layout.local_replicas)
    pipeline_id = layout.first_replica // layout.local_replicas
    root = ops.base_seed(seed)

    ds = tf.data.Dataset.from_tensor_slices(files)
    if pipelines > 1 and len(files) >= pipelines:
        ds = ds.shard(pipelines, pipeline_id)
    n_files = len(files) // pipelines if len(files) >= pipelines else len(files)
    ds = ds.shuffle(len(files), seed=seed).repeat()
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(8, n_files)),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if pipelines > 1 and len(files) < pipelines:
        ds = ds.shard(pipelines, pipeline_id)
    ds = ds.map(_plain(schema.parse_identity), num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.filter(_plain(lambda r: r["count"] >= min_images_per_identity))
    ds = ds.shuffle(shuffle_buffer, seed=seed + _SHUFFLE_SALT, reshuffle_each_iteration=True)
    ds = ds.enumerate().skip(start_step * layout.local_replicas * p_r)

    def pick(position, record):
        s = ops.fold_seed(root, _RECORD_SALT, position)
        perm = tf.argsort(tf.random.stateless_uniform([record["count"]], ops.fold_seed(s, 0)))
        chosen = tf.gather(perm, tf.math.floormod(tf.range(k), record["count"]))
        seeds = tf.map_fn(
            lambda j: ops.fold_seed(s, 1, j),
            tf.range(k, dtype=tf.int64),
            fn_output_signature=tf.TensorSpec([2], tf.int64),
        )
        return tf.data.Dataset.from_tensor_slices(
            {
                "encoded": tf.gather(record["encoded"], chosen),
                "label": tf.fill([k], record["label"]),
                "seed": seeds,
            }
        )

    ds = ds.flat_map(_plain(pick))
    ds = ds.map(_plain(augment), num_parallel_calls=num_parallel_calls, deterministic=True)
    return _finish(ds, p_r * k)


def to_keras(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``{"image", "label"}`` batches -> ``(image, label)`` tuples for ``model.fit``.

    Feed the result to ``fit`` as is (no shuffling: it would break the P x K structure).
    """
    return ds.map(_plain(lambda d: (d["image"], d["label"])))
