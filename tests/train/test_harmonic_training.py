"""Harmonic training: a tiny model trained against a second, frozen tiny model's vectors.

The reference's vectors come from the targets binary's library (``distill.compute_targets``,
through the face pipeline, crop and mirror averaged) and are used uncentred.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.data import scan_folder_tree
from facenet_tf.data.pipeline import pk_index_dataset
from facenet_tf.data.sampler import build_identity_table
from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import triplet_semihard_loss
from facenet_tf.train import distill, train_lib
from facenet_tf.train.config import TrainConfig
from tests.losses.test_harmonic import reference_stats
from tests.train.conftest import (
    assert_same_weights,
    base_config,
    finish,
    load_weights,
    run_worker,
    short_config,
)
from tests.train.tiny import TINY_SIZE, tiny_model

WEIGHT_ATOL = 1e-4  # as tests/train/test_distributed.py


@pytest.fixture(scope="module")
def harmonic_assets(assets, tmp_path_factory):
    """The shared tree's vectors from another tiny model (the frozen reference)."""
    root = tmp_path_factory.mktemp("harmonic")
    keras.utils.set_random_seed(123)
    reference = tiny_model()
    index = scan_folder_tree(assets["faces"])
    vectors, failed, meta = distill.compute_targets(
        index.paths, reference, source_template="facenet_160", teacher_template="facenet_160"
    )
    assert not failed
    path = root / "reference.npz"
    distill.save_targets(path, index.paths, vectors, failed, meta)
    return path, index, vectors


def test_targets_are_loaded_uncentred(assets, harmonic_assets):
    path, index, vectors = harmonic_assets
    loaded = train_lib.load_harmonic_targets(str(path), index.paths, embedding_dim=8)
    np.testing.assert_array_equal(loaded, vectors)  # the reference's own space
    with pytest.raises(InvalidInputError, match="8-D reference vectors for a model with 16-D"):
        train_lib.load_harmonic_targets(str(path), index.paths, embedding_dim=16)
    extra = [*index.paths, str(assets["faces"] / "id_00" / "unknown.png")]
    with pytest.raises(InvalidInputError, match="1 of .* have no reference vector"):
        train_lib.load_harmonic_targets(str(path), extra)


@pytest.mark.parametrize("weight", [1.5, 0.0])
def test_first_step_loss_is_triplet_plus_weighted_harmonic(
    assets, harmonic_assets, tmp_path, weight
):
    """Weight 0 (the comparison run): the triplet loss alone, the harmonic terms logged."""
    path, index, vectors = harmonic_assets
    values = base_config(assets, tmp_path, train_steps=2, log_every=1)
    config = TrainConfig(
        **values,
        harmonic_targets=str(path),
        harmonic_weight=weight,
        harmonic_margin=0.1,
        harmonic_regression_weight=0.5,
    )
    model = keras.models.load_model(assets["model"], compile=False)
    ds = train_lib.make_dataset_fn(config, (TINY_SIZE, TINY_SIZE), 0)(None)
    batch = next(iter(ds))
    e = model(batch["image"], training=True).numpy()
    table = build_identity_table(index.labels, 2)
    first = [int(x["index"]) for x in pk_index_dataset(table, 4, 3, seed=1, num_steps=1)]
    np.testing.assert_array_equal(batch["target"].numpy(), vectors[first])
    labels = batch["label"].numpy()
    want = reference_stats(labels, e, vectors[first], 0.1, "squared_l2", 0.5)
    triplet = float(triplet_semihard_loss(labels, e, margin=0.2))
    logged = [h for h in train_lib.run(config).history if "loss" in h][0]
    np.testing.assert_allclose(logged["harmonic_loss"], want["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        logged["harmonic_matched_distance"], want["matched_distance"], rtol=1e-4
    )
    np.testing.assert_allclose(logged["loss"], triplet + weight * want["loss"], rtol=1e-4)


def test_cross_model_distances_fall(assets, harmonic_assets, tmp_path):
    """A few dozen steps: each image's new vector moves towards the reference's vector
    of it, while the within-model triplet loss stays finite."""
    path, _, _ = harmonic_assets
    values = base_config(assets, tmp_path, train_steps=40, log_every=1)
    values.update(optimizer="adam", learning_rate=0.01)
    config = TrainConfig(**values, harmonic_targets=str(path), harmonic_regression_weight=1.0)
    history = [h for h in train_lib.run(config).history if "harmonic_loss" in h]
    matched = [h["harmonic_matched_distance"] for h in history]
    cross = [h["harmonic_loss"] for h in history]
    assert all(np.isfinite(h["loss"]) for h in history)
    assert np.mean(matched[-8:]) < 0.5 * np.mean(matched[:8]), (matched[:8], matched[-8:])
    assert np.mean(cross[-8:]) < np.mean(cross[:8]), (cross[:8], cross[-8:])


def test_harmonic_config_is_validated(assets, harmonic_assets, tmp_path):
    path = str(harmonic_assets[0])
    values = base_config(assets, tmp_path)
    with pytest.raises(InvalidInputError, match="harmonic_targets.*no such file"):
        TrainConfig(**values, harmonic_targets=str(tmp_path / "missing.npz"))
    with pytest.raises(InvalidInputError, match="harmonic_margin"):
        TrainConfig(**values, harmonic_targets=path, harmonic_margin=-0.1)
    with pytest.raises(InvalidInputError, match="harmonic_regression_weight"):
        TrainConfig(**values, harmonic_targets=path, harmonic_regression_weight=-1.0)
    with pytest.raises(InvalidInputError, match="combined with distill_targets"):
        TrainConfig(**values, harmonic_targets=path, distill_targets=path)
    with pytest.raises(InvalidInputError, match="folder-tree"):
        TrainConfig(**values, data_format="tfrecord", harmonic_targets=path)


@pytest.mark.multiprocess
def test_mirrored_harmonic_equals_single_device(assets, harmonic_assets, tmp_path):
    """The harmonic loss is mined over the global batch: 2 replicas train as one device."""
    extra = dict(harmonic_targets=str(harmonic_assets[0]), harmonic_regression_weight=0.5)
    single = train_lib.run(TrainConfig(**short_config(assets, tmp_path / "one", **extra)))
    config = short_config(
        assets, tmp_path / "two", strategy="mirrored", devices=["/cpu:0", "/cpu:1"], **extra
    )
    finish(run_worker(config, tmp_path / "out.npz", cpus=2))
    assert_same_weights(load_weights(tmp_path / "out.npz"), single.model.get_weights(), WEIGHT_ATOL)
