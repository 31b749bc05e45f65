"""The custom training loop on a tiny model: learning, resumption, exports, observability."""

from __future__ import annotations

import dataclasses
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.data import (
    AugmentConfig,
    augment_op,
    folder_pk_dataset,
    make_tfrecords_lib,
    scan_folder_tree,
    to_keras,
)
from facenet_tf.losses import TripletSemiHardLoss
from facenet_tf.train import config as config_lib
from facenet_tf.train import summaries, train_lib
from facenet_tf.train.config import TrainConfig
from tests.train.conftest import assert_same_weights, base_config
from tests.train.tiny import TINY_SIZE, tiny_model


def _losses(history):
    return [h["loss"] for h in history if "loss" in h]


def test_training_reduces_the_loss(assets, tmp_path):
    config = TrainConfig(**base_config(assets, tmp_path, train_steps=40, log_every=1))
    losses = _losses(train_lib.run(config).history)
    assert len(losses) == 40 and all(math.isfinite(v) for v in losses)
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    assert last < 0.6 * first, (first, last)


def test_reference_run_logs_validates_and_exports(reference, assets):
    result, workdir = reference["result"], reference["workdir"]
    assert (result.start_step, result.final_step) == (0, 24)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if "loss" in r]
    assert train_steps == [4, 8, 12, 16, 20, 24]
    # Validation before training (random initialisation), every 12 steps and at the end.
    assert [r["step"] for r in records if "val/accuracy" in r] == [0, 12, 24]
    scalars = summaries.read_scalars(str(workdir / "tensorboard"))
    for tag in (
        "loss",
        "fraction_active_triplets",
        "mean_d_ap",
        "mean_d_an",
        "fraction_fallback_negatives",
        "embedding_norm_mean",
        "learning_rate",
        "images_per_sec",
        "val/accuracy",
    ):
        assert tag in scalars, tag
    assert [s for s, _ in scalars["loss"]] == train_steps
    assert scalars["learning_rate"][0][1] == pytest.approx(0.05)
    # Exports: the .keras file and the SavedModel compute what the trained model computes.
    x = np.random.default_rng(0).uniform(0, 255, (3, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)
    expected = result.model(x, training=False).numpy()
    reloaded = keras.models.load_model(result.keras_path)
    np.testing.assert_allclose(reloaded(x).numpy(), expected, atol=1e-6)
    serving = tf.saved_model.load(result.saved_model_path)
    out = serving.signatures["serving_default"](tf.constant(x))
    np.testing.assert_allclose(next(iter(out.values())).numpy(), expected, atol=1e-5)
    kept = sorted(p.name for p in (workdir / "checkpoints").glob("ckpt-*.index"))
    assert kept == ["ckpt-16.index", "ckpt-20.index", "ckpt-24.index"]  # keep_checkpoints=3
    # The resolved config, as JSON, beside the run's outputs.
    saved = json.loads((workdir / config_lib.CONFIG_FILE).read_text())
    assert saved == json.loads(json.dumps(dataclasses.asdict(reference["config"])))


def test_damaged_latest_checkpoint_resume_matches_uninterrupted_run(assets, reference, tmp_path):
    # First run stops at 12 (an interrupted run), its newest checkpoint is then damaged.
    train_lib.run(TrainConfig(**base_config(assets, tmp_path, train_steps=12)))
    data = next((tmp_path / "checkpoints").glob("ckpt-12.data-*"))
    data.write_bytes(data.read_bytes()[:64])
    # A longer step budget is an allowed change on resume.
    resumed = train_lib.run(TrainConfig(**base_config(assets, tmp_path)))
    assert resumed.start_step == 8  # the damaged ckpt-12 was skipped, never loaded
    assert_same_weights(resumed.model.get_weights(), reference["weights"])
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 8, 12, 16, 20, 24]  # nothing logged twice
    assert config_lib.load(str(tmp_path / config_lib.CONFIG_FILE)).train_steps == 24
    # Anything that changes what a step computes is refused before training starts.
    changed = TrainConfig(**base_config(assets, tmp_path, train_steps=28, margin=0.3))
    with pytest.raises(config_lib.ConfigMismatchError, match=r"margin: 0.2 \(saved\) -> 0.3"):
        train_lib.run(changed)
    assert config_lib.load(str(tmp_path / config_lib.CONFIG_FILE)).margin == 0.2


def test_steps_per_loop_gives_the_same_training(assets, reference, tmp_path):
    config = TrainConfig(**base_config(assets, tmp_path, steps_per_loop=4))
    result = train_lib.run(config)
    assert_same_weights(result.model.get_weights(), reference["weights"])


def test_xla_matches_the_plain_graph(assets, reference, tmp_path):
    config = TrainConfig(**base_config(assets, tmp_path, xla=True, train_steps=4))
    result = train_lib.run(config)
    expected = _losses(reference["result"].history)[0]
    assert _losses(result.history)[0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains(assets, tmp_path, precision):
    config = TrainConfig(
        **base_config(assets, tmp_path, model="nn4", precision=precision, train_steps=4)
    )
    result = train_lib.run(config, model_fn=tiny_model)
    assert result.model.layers[2].compute_dtype == precision.split("_")[1]
    assert all(math.isfinite(v) for v in _losses(result.history))
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards


@pytest.mark.parametrize("loss", ["batch_hard", "batch_all"])
def test_other_losses_train(assets, tmp_path, loss):
    config = TrainConfig(**base_config(assets, tmp_path, loss=loss, train_steps=4))
    history = train_lib.run(config).history
    assert all(math.isfinite(v) for v in _losses(history))
    assert "fraction_active_triplets" in history[-1]


def test_tfrecord_input(assets, tmp_path):
    shards = tmp_path / "shards"
    make_tfrecords_lib.run(
        make_tfrecords_lib.MakeTFRecordsConfig((str(assets["faces"]),), str(shards), num_shards=2)
    )
    config = TrainConfig(
        **base_config(assets, tmp_path / "w", data_dir=(str(shards),), train_steps=4)
    )
    assert config.resolved_data_format() == "tfrecord"
    assert all(math.isfinite(v) for v in _losses(train_lib.run(config).history))


def test_model_fit_with_the_keras_loss(assets):
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adagrad(0.05), loss=TripletSemiHardLoss())
    augment = augment_op(AugmentConfig((TINY_SIZE, TINY_SIZE)), training=False)
    ds = folder_pk_dataset(scan_folder_tree(assets["faces"]), augment, 4, 3, seed=0)
    fit = model.fit(to_keras(ds), epochs=4, steps_per_epoch=10, shuffle=False, verbose=0)
    history = fit.history["loss"]
    assert all(math.isfinite(v) for v in history)
    assert history[-1] < history[0]
