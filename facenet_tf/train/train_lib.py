"""Triplet training of FaceNet embeddings on ``tf.distribute``: the custom loop.

``run(config)`` trains with ``strategy.run`` inside a ``tf.function``: every replica
embeds its share of an identity-balanced P x K batch, the triplet loss is mined over the
gathered global batch (``facenet_tf.losses.replica_triplet_loss``) and the optimizer's
summing all-reduce makes the update equal to single-device training on the global batch.
With ``harmonic_targets`` the harmonic loss against a reference model's stored vectors of
the same images (``facenet_tf.losses.harmonic_loss``) is added, mined the same way.

A run is resumable: batch s depends only on (seed, s), a checkpoint holds the model,
the optimizer and the step, and a re-run with the same config continues from the newest
intact checkpoint. The config is written to ``{workdir}/config.json``; a resumed run must
agree with it (``config.check_resume``). Observability: TensorBoard summaries and
``metrics.jsonl`` in the workdir, LFW DevTest validation, a progress bar with ETA. The
result is saved as ``model.keras`` and a SavedModel (``saved_model/``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from facenet_tf import losses
from facenet_tf.data import folder, pipeline
from facenet_tf.data.sampler import build_identity_table
from facenet_tf.errors import InvalidInputError
from facenet_tf.models.spec import spec_of
from facenet_tf.train import checkpointing, schedules, summaries
from facenet_tf.train import config as config_lib
from facenet_tf.train import strategy as strategy_lib
from facenet_tf.train.config import TrainConfig, tfrecord_files
from facenet_tf.train.fast_layers import fast_training_model
from facenet_tf.train.validation import make_validator

_LOSSES = {
    "semihard": (losses.triplet_semihard_loss, losses.triplet_semihard_stats),
    "batch_hard": (losses.triplet_batch_hard_loss, losses.triplet_batch_hard_stats),
    "batch_all": (losses.triplet_batch_all_loss, losses.triplet_batch_all_stats),
}
_STAT_KEYS = ("fraction_active_triplets", "mean_d_ap", "mean_d_an", "fraction_fallback_negatives")
_HARMONIC_STAT_KEYS = (
    "loss",
    "matched_distance",
    "fraction_active_triplets",
    "mean_d_ap",
    "mean_d_an",
)
METRICS_FILE = "metrics.jsonl"


@dataclasses.dataclass
class TrainResult:
    """What ``run`` leaves behind.

    Attributes:
        model: the trained Keras model.
        start_step: the step training (re)started from.
        final_step: the step it ended at.
        history: the logged records (also in ``metrics.jsonl``).
        keras_path: the saved ``.keras`` file (chief only, else None).
        saved_model_path: the exported SavedModel folder (or None).
    """

    model: keras.Model
    start_step: int
    final_step: int
    history: list[dict]
    keras_path: str | None = None
    saved_model_path: str | None = None


def build_model(config: TrainConfig) -> keras.Model:
    """The registry model or the ``.keras`` file the config names (in the current scope)."""
    if config.model.endswith(".keras"):
        return keras.models.load_model(config.model, compile=False)
    from facenet_tf.models.registry import create_model

    return create_model(config.model, embedding_dim=config.embedding_dim)


def _with_feature_output(model: keras.Model) -> keras.Model:
    """The model also returning the pre-normalisation embedding, to log its norms."""
    try:
        features = model.get_layer("embedding_dense").output
    except ValueError:
        features = model.output  # no standard head: norms of the output itself
    return keras.Model(model.inputs, [model.output, features], name=f"{model.name}_train")


def make_dataset_fn(
    config: TrainConfig,
    image_size: tuple[int, int],
    start_step: int,
    embedding_dim: int | None = None,
) -> Callable[[tf.distribute.InputContext | None], tf.data.Dataset]:
    """``dataset_fn(input_context)`` for ``distribute_datasets_from_function``.

    Raises InvalidInputError now (not inside the input pipeline) when the data cannot
    fill a batch, or when distillation targets are not ``embedding_dim`` wide.
    """
    augment_config = dataclasses.replace(config.augment, image_size=image_size)
    augment = pipeline.augment_op(augment_config, training=True)
    common = dict(
        augment=augment,
        identities_per_batch=config.identities_per_batch,
        images_per_identity=config.images_per_identity,
        seed=config.seed,
        min_images_per_identity=config.min_images_per_identity,
        start_step=start_step,
    )
    if config.resolved_data_format() == "tfrecord":
        files = tfrecord_files(config.data_dir)
        return lambda ctx: pipeline.tfrecord_pk_dataset(
            files, shuffle_buffer=config.shuffle_buffer, input_context=ctx, **common
        )
    index = folder.scan_folder_tree(list(config.data_dir))
    targets = has_target = None
    if config.harmonic_targets:
        targets = load_harmonic_targets(config.harmonic_targets, index.paths, embedding_dim)
    if config.distill_targets:
        from facenet_tf.train import distill

        targets, has_target = distill.load_targets(
            config.distill_targets, index.paths, center=config.distill_center
        )
        if embedding_dim is not None and targets.shape[1] != embedding_dim:
            raise InvalidInputError(
                f"distill_targets {config.distill_targets}: {targets.shape[1]}-D targets for a "
                f"model with {embedding_dim}-D embeddings"
            )
        missing = int((~has_target).sum())
        if missing:
            logging.warning(
                "%d of %d training images have no distillation target; they are trained "
                "with the triplet loss alone",
                missing,
                len(index),
            )
    eligible = build_identity_table(index.labels, config.min_images_per_identity).num_identities
    if eligible < config.identities_per_batch:
        raise InvalidInputError(
            f"identities_per_batch={config.identities_per_batch}, but only {eligible} identities "
            f"in data_dir have >= {config.min_images_per_identity} images"
        )
    return lambda ctx: pipeline.folder_pk_dataset(
        index,
        num_steps=config.train_steps - start_step,
        input_context=ctx,
        targets=targets,
        has_target=has_target,
        **common,
    )


def load_harmonic_targets(
    path: str, paths: tuple[str, ...], embedding_dim: int | None = None
) -> np.ndarray:
    """The reference's vectors float32 [N, D] of every training image, uncentred, in
    ``paths`` order.

    The harmonic loss mines over every image of a batch in both models' spaces, so every
    training image needs its reference vector: a missing one is an error, not a skip.

    Raises:
        InvalidInputError: the file is unusable, an image has no vector, or the vectors
            are not ``embedding_dim`` wide.
    """
    from facenet_tf.train import distill

    targets, has_target = distill.load_targets(path, paths, center=False)
    if not has_target.all():
        missing = [p for p, ok in zip(paths, has_target, strict=True) if not ok]
        raise InvalidInputError(
            f"harmonic_targets {path}: {len(missing)} of {len(paths)} training images have no "
            f"reference vector (e.g. {missing[:3]}); compute the targets for these data_dir "
            "folders"
        )
    if embedding_dim is not None and targets.shape[1] != embedding_dim:
        raise InvalidInputError(
            f"harmonic_targets {path}: {targets.shape[1]}-D reference vectors for a model with "
            f"{embedding_dim}-D embeddings"
        )
    return targets


class Trainer:
    """The compiled step functions of one run; build it inside ``strategy.scope()``.

    ``train_loop(iterator)`` runs ``config.steps_per_loop`` steps on a distributed iterator
    and returns the reduced metrics of the last one; ``embed(images)`` embeds a batch with
    the current weights (inference mode).
    """

    def __init__(self, config, strategy, model, optimizer, step):
        self.config = config
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.step = step
        self.loss_fn, self.stats_fn = _LOSSES[config.loss]
        self.loss_kwargs = {"margin": config.margin, "distance": config.distance}
        self.harmonic_kwargs = None
        if config.harmonic_targets:
            self.harmonic_kwargs = {
                "margin": config.harmonic_margin,
                "distance": config.distance,
                "regression_weight": config.harmonic_regression_weight,
            }
        train_model = _with_feature_output(model)
        if config.fused_layers:  # same function and variables, fused kernels
            train_model = fast_training_model(train_model)
        self.train_model = train_model
        forward = lambda images: train_model(images, training=True)  # noqa: E731
        # XLA compiles the forward pass and, through it, its gradient; the collectives of
        # the global-batch loss and the optimizer's all-reduce stay outside.
        # Everything here is plain TensorFlow/Keras ops: autograph would only add tracing time.
        if config.xla:
            forward = tf.function(forward, jit_compile=True, autograph=False)
        self.forward = forward
        self.train_loop = tf.function(self._train_loop, autograph=False)
        self.embed = tf.function(self._embed, autograph=False)

    def _replica_step(self, batch):
        labels = batch["label"]
        variables = self.model.trainable_variables
        distill = None
        with tf.GradientTape() as tape:
            embeddings, features = self.forward(batch["image"])
            embeddings = tf.cast(embeddings, tf.float32)
            loss = losses.replica_triplet_loss(self.loss_fn, labels, embeddings, **self.loss_kwargs)
            if self.harmonic_kwargs is not None:
                # Mined over the global batch like the triplet loss: the reference vectors
                # travel beside the embeddings (they carry no gradient). With weight 0 (the
                # comparison run) only the logged statistics below are computed.
                if self.config.harmonic_weight > 0:
                    joint = tf.concat([embeddings, tf.cast(batch["target"], tf.float32)], axis=1)
                    harmonic = losses.replica_triplet_loss(
                        _harmonic_of_joint, labels, joint, **self.harmonic_kwargs
                    )
                    loss = loss + self.config.harmonic_weight * harmonic
            elif "target" in batch:
                distill = _distill_loss(embeddings, batch["target"], batch["has_target"])
                # Each replica's term is its mean / R, so the summed gradient is the mean's.
                replicas = tf.cast(self.strategy.num_replicas_in_sync, tf.float32)
                loss = loss + self.config.distill_weight * distill / replicas
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        if self.harmonic_kwargs is not None:
            embeddings = tf.concat([embeddings, tf.cast(batch["target"], tf.float32)], axis=1)
        if self.strategy.num_replicas_in_sync > 1:
            labels, embeddings, _, _ = losses.all_gather_batch(labels, embeddings)
        embeddings = tf.stop_gradient(embeddings)
        reference = None
        if self.harmonic_kwargs is not None:
            embeddings, reference = tf.split(embeddings, 2, axis=1)
        stats = self.stats_fn(labels, embeddings, **self.loss_kwargs)
        metrics = {k: stats[k] for k in _STAT_KEYS if k in stats}
        if reference is not None:
            harmonic = losses.harmonic_stats(labels, embeddings, reference, **self.harmonic_kwargs)
            metrics.update({f"harmonic_{k}": harmonic[k] for k in _HARMONIC_STAT_KEYS})
        if distill is not None:
            metrics["distill_loss"] = distill
        norms = tf.norm(tf.cast(features, tf.float32), axis=1)
        metrics["embedding_norm_mean"] = tf.reduce_mean(norms)
        metrics["embedding_norm_std"] = tf.math.reduce_std(norms)
        return loss, metrics

    def _one_step(self, iterator):
        loss, metrics = self.strategy.run(self._replica_step, args=(next(iterator),))
        mean = tf.distribute.ReduceOp.MEAN
        reduced = {k: self.strategy.reduce(mean, v, axis=None) for k, v in metrics.items()}
        reduced["loss"] = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return reduced

    def _train_loop(self, iterator):
        metrics = self._one_step(iterator)
        if self.config.steps_per_loop > 1:
            _, metrics = tf.while_loop(
                lambda i, _: i < self.config.steps_per_loop - 1,
                lambda i, _: (i + 1, self._one_step(iterator)),
                (tf.constant(0), metrics),
            )
        self.step.assign_add(self.config.steps_per_loop)
        return metrics

    def _embed(self, images):
        out = self.strategy.run(lambda x: self.model(x, training=False), args=(images,))
        return tf.cast(self.strategy.experimental_local_results(out)[0], tf.float32)


def _harmonic_of_joint(labels, joint, **kwargs) -> tf.Tensor:
    """`harmonic_loss` of ``joint = [embeddings | reference]`` ([B, 2D])."""
    embeddings, reference = tf.split(joint, 2, axis=1)
    return losses.harmonic_loss(labels, embeddings, reference, **kwargs)


def _distill_loss(embeddings: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Weighted mean of ``||embeddings - targets||^2`` over the rows ([B, D], [B, D], [B])."""
    per_image = tf.reduce_sum(tf.square(embeddings - targets), axis=1)
    return tf.reduce_sum(per_image * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _truncate_metrics(path: str, last_step: int) -> None:
    """Drops records logged after the checkpoint a resumed run restarts from."""
    if not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        lines = [ln for ln in f if ln.strip() and json.loads(ln)["step"] <= last_step]
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(lines))


def run(config: TrainConfig, model_fn: Callable[[], keras.Model] | None = None) -> TrainResult:
    """Trains (or resumes training) as ``config`` says.

    Args:
        config: the validated configuration.
        model_fn: builds the model instead of ``config.model`` (called inside the
            strategy scope), for programmatic use.

    Returns:
        The trained model and where it was saved.
    """
    policy = keras.mixed_precision.global_policy()
    try:
        return _run(config, model_fn)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _run(config: TrainConfig, model_fn) -> TrainResult:
    # Multi-worker and TPU strategies must exist before any other TensorFlow work.
    strategy = strategy_lib.create_strategy(
        config.strategy, config.tpu, config.devices, config.communication
    )
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    replicas = strategy.num_replicas_in_sync
    if config.identities_per_batch % replicas:
        raise InvalidInputError(
            f"identities_per_batch={config.identities_per_batch} must be divisible by the "
            f"{replicas} replicas"
        )
    chief = strategy_lib.is_chief(strategy)
    task_type, task_id = strategy_lib.task(strategy)
    ckpt_dir = os.path.join(config.workdir, "checkpoints")
    # A workdir with checkpoints is resumed: only with the config it was started with.
    if checkpointing.candidate_checkpoints(ckpt_dir):
        config_lib.check_resume(config)
    if chief:
        config_lib.write(config)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.precision)

    with strategy.scope():
        model = model_fn() if model_fn else build_model(config)
        optimizer = schedules.build_optimizer(config)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        trainer = Trainer(config, strategy, model, optimizer, step)
    spec = spec_of(model)  # the model's input size and D, as inference and export read them

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    restored = checkpointing.restore_latest(checkpoint, ckpt_dir)
    start = int(step.numpy())
    # Every worker saves (saving may involve all of them), but only the chief's copies
    # are kept; the others write to a scratch folder removed at the end.
    scratch = None if chief else os.path.join(config.workdir, "workers", f"{task_type}-{task_id}")
    manager = tf.train.CheckpointManager(
        checkpoint, scratch or ckpt_dir, max_to_keep=config.keep_checkpoints
    )
    if restored:
        logging.info("resuming from %s at step %d", restored, start)

    dataset_fn = make_dataset_fn(config, spec.input_size, start, spec.embedding_dim)
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    validator = None
    if config.val_pairs:
        validator = make_validator(config.val_pairs, config.val_images_dir, model)

    metrics_path = os.path.join(config.workdir, METRICS_FILE)
    if chief:
        tf.io.gfile.makedirs(config.workdir)
        _truncate_metrics(metrics_path, start)
        writer = tf.summary.create_file_writer(os.path.join(config.workdir, "tensorboard"))
    else:
        writer = tf.summary.create_noop_writer()
    history: list[dict] = []

    def record(values: dict, at: int) -> None:
        values = {"step": at, "time": time.time(), **values}
        history.append(values)
        summaries.write_scalars(
            writer, {k: v for k, v in values.items() if k not in ("step", "time")}, at
        )
        if chief:
            with tf.io.gfile.GFile(metrics_path, "a") as f:
                f.write(json.dumps(values) + "\n")

    def validate(at: int) -> None:
        if validator is None:
            return
        scores = validator(lambda x: trainer.embed(tf.constant(x)).numpy(), config.val_batch_size)
        record({f"val/{k}": v for k, v in scores.items()}, at)
        logging.info("step %d: DevTest accuracy %.4f", at, scores["accuracy"])

    if start == 0:
        validate(0)
    progress = None
    if config.progress and chief:
        from tqdm import tqdm

        progress = tqdm(total=config.train_steps, initial=start, unit="step", mininterval=2.0)
    current, busy, images = start, 0.0, 0
    deadline = time.monotonic() + 60.0 * config.max_train_minutes
    while current < config.train_steps:
        t0 = time.perf_counter()
        values = {k: float(v) for k, v in trainer.train_loop(iterator).items()}
        busy += time.perf_counter() - t0
        images += config.global_batch_size * config.steps_per_loop
        current += config.steps_per_loop
        if not math.isfinite(values["loss"]) and config.precision != "mixed_float16":
            raise FloatingPointError(
                f"loss is {values['loss']} at step {current}; last checkpoint: "
                f"{manager.latest_checkpoint}"
            )
        if progress is not None:
            progress.update(config.steps_per_loop)
            progress.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
        out_of_time = config.max_train_minutes > 0 and time.monotonic() > deadline
        last = current >= config.train_steps or out_of_time
        if current % config.log_every == 0 or last:
            values["learning_rate"] = _learning_rate(optimizer)
            values["images_per_sec"] = images / max(busy, 1e-9)
            record(values, current)
            busy, images = 0.0, 0
        if current % config.checkpoint_every == 0 or last:
            manager.save(checkpoint_number=current)
        if (config.val_every and current % config.val_every == 0) or last:
            validate(current)
        if out_of_time:
            logging.info("max_train_minutes reached at step %d; re-run to continue", current)
            break
    if progress is not None:
        progress.close()
    writer.flush()

    result = TrainResult(model, start, current, history)
    if chief:
        result.keras_path = os.path.join(config.workdir, "model.keras")
        model.save(result.keras_path)
        if config.export_saved_model:
            result.saved_model_path = os.path.join(config.workdir, "saved_model")
            model.export(result.saved_model_path, format="tf_saved_model", verbose=False)
    elif scratch:
        tf.io.gfile.rmtree(scratch)
    return result
