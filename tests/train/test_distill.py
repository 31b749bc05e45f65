"""Distillation targets: template warps, teacher embeddings, lookup, pipeline and loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest

from facenet_tf.align import templates
from facenet_tf.align.face_align import template_to_template
from facenet_tf.data import AugmentConfig, augment_op, folder_pk_dataset, scan_folder_tree
from facenet_tf.data.pipeline import pk_index_dataset
from facenet_tf.data.sampler import build_identity_table
from facenet_tf.errors import InvalidInputError
from facenet_tf.losses import triplet_semihard_loss
from facenet_tf.train import distill, train_lib
from facenet_tf.train.config import TrainConfig
from tests.data.synthetic import write_face_tree
from tests.train.conftest import REPO_ROOT, base_config, subprocess_env
from tests.train.tiny import TINY_SIZE, tiny_model


def _similarity_reference(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity src -> dst by solving the 4-parameter linear system."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


@pytest.mark.parametrize(
    "source,size,target,target_size",
    [("facenet_160", 160, "dlib_150", 150), ("facenet_160", 96, "mobile_112", 112)],
)
def test_template_to_template_is_the_least_squares_similarity(source, size, target, target_size):
    got = template_to_template(source, size, target, target_size)
    want = _similarity_reference(
        templates.get_template(source).scaled(size),
        templates.get_template(target).scaled(target_size),
    )
    np.testing.assert_allclose(got, want, atol=1e-9)
    same = template_to_template(source, size, source, size)
    np.testing.assert_allclose(same, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Square 'aligned crops' of 4 identities (random texture), one corrupt, one oblong."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    for person in range(4):
        folder = root / f"p{person}"
        folder.mkdir()
        for j in range(3):
            image = rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
            cv2.imwrite(str(folder / f"{j}.png"), image)
    (root / "p0" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    cv2.imwrite(str(root / "p1" / "oblong.png"), np.zeros((30, 40, 3), np.uint8))
    return root


@pytest.fixture(scope="module")
def teacher():
    keras.utils.set_random_seed(5)
    return tiny_model(size=20, embedding_dim=6)


def test_compute_targets_matches_a_brute_force_teacher(crops, teacher):
    index = scan_folder_tree(crops)
    out, failed, meta = distill.compute_targets(
        index.paths, teacher, batch_size=4, teacher_template="facenet_160"
    )
    assert out.shape == (len(index), 6)
    bad = {str(crops / "p0" / "broken.jpg"), str(crops / "p1" / "oblong.png")}
    assert set(failed) == bad and "square" in failed[str(crops / "p1" / "oblong.png")]
    # Brute force: warp each crop onto the teacher's template by hand, embed it and its
    # mirror image, average, normalise.
    src = templates.get_template("facenet_160").scaled(36)
    dst = templates.get_template("facenet_160").scaled(20)  # the tiny teacher's default
    m = _similarity_reference(src, dst)
    for i, path in enumerate(index.paths):
        if path in bad:
            assert np.isnan(out[i]).all()
            continue
        rgb = cv2.imread(path)[..., ::-1]
        chip = cv2.warpAffine(rgb, m, (20, 20), flags=cv2.INTER_LINEAR).astype(np.float32)
        e = teacher(np.stack([chip, chip[:, ::-1]]), training=False).numpy().sum(0)
        np.testing.assert_allclose(out[i], e / np.linalg.norm(e), atol=2e-2)
    assert meta["teacher"] == "tiny" and meta["flip"] is True


def test_targets_round_trip_by_path(crops, teacher, tmp_path):
    index = scan_folder_tree(crops)
    out, failed, meta = distill.compute_targets(
        index.paths, teacher, teacher_template="facenet_160"
    )
    path = tmp_path / "t.npz"
    distill.save_targets(path, index.paths, out, failed, meta)
    with np.load(path) as f:
        assert sorted(f["failed"].tolist()) == sorted(failed)
        assert json.loads(str(f["meta"]))["teacher"] == "tiny"
    # Another order, a relative spelling and an unknown image: looked up by real path.
    paths = list(reversed(index.paths)) + [str(crops / "p9" / "new.png")]
    paths[0] = os.path.relpath(paths[0])
    targets, has = distill.load_targets(path, paths, center=False)
    for i, p in enumerate(paths):
        j = index.paths.index(os.path.abspath(p)) if os.path.abspath(p) in index.paths else -1
        if j < 0 or index.paths[j] in failed:
            assert not has[i] and not targets[i].any()
        else:
            assert has[i]
            np.testing.assert_array_equal(targets[i], out[j])
    # Centred: minus the mean of every stored target, re-normalised.
    good = np.all(np.isfinite(out), axis=1)
    mean = out[good].astype(np.float64).mean(axis=0)
    centred, _ = distill.load_targets(path, index.paths)
    for i in np.flatnonzero(good):
        want = (out[i] - mean) / np.linalg.norm(out[i] - mean)
        np.testing.assert_allclose(centred[i], want, atol=1e-5)
    with pytest.raises(InvalidInputError, match="none of the 1 training images"):
        distill.load_targets(path, [str(tmp_path / "elsewhere.png")])
    with pytest.raises(InvalidInputError, match="no such file"):
        distill.load_targets(tmp_path / "missing.npz", index.paths)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    with pytest.raises(InvalidInputError, match="not a targets file"):
        distill.load_targets(junk, index.paths)


def test_pipeline_carries_each_images_own_target(tmp_path):
    write_face_tree(tmp_path / "faces")
    index = scan_folder_tree(tmp_path / "faces")
    n = len(index)
    targets = np.stack([np.arange(n), index.labels], axis=1).astype(np.float32)
    has = np.arange(n) % 2 == 0
    augment = augment_op(AugmentConfig((8, 8)), training=False)
    ds = folder_pk_dataset(index, augment, 4, 3, seed=2, num_steps=3, targets=targets,
                           has_target=has)  # fmt: skip
    table = build_identity_table(index.labels, 2)
    indices = [int(e["index"]) for e in pk_index_dataset(table, 4, 3, seed=2, num_steps=3)]
    seen = []
    for batch in ds:
        t = batch["target"].numpy()
        np.testing.assert_array_equal(t[:, 1], batch["label"].numpy())
        np.testing.assert_array_equal(batch["has_target"].numpy(), has[t[:, 0].astype(int)])
        seen += t[:, 0].astype(int).tolist()
    assert seen == indices
    with pytest.raises(InvalidInputError, match="one row per image"):
        folder_pk_dataset(index, augment, 4, 3, targets=targets[:-1])


@pytest.fixture(scope="module")
def distill_assets(assets, tmp_path_factory):
    """Targets for the shared synthetic tree from a random 'teacher' (any fixed vectors do)."""
    index = scan_folder_tree(assets["faces"])
    rng = np.random.default_rng(3)
    t = rng.normal(size=(len(index), 8)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("targets") / "targets.npz"
    distill.save_targets(path, index.paths, t, {}, {"teacher": "random"})
    return path, index, t


def test_first_step_loss_is_triplet_plus_weighted_distillation(assets, distill_assets, tmp_path):
    path, index, t = distill_assets
    values = base_config(assets, tmp_path, train_steps=4, log_every=1)
    config = TrainConfig(
        **values, distill_targets=str(path), distill_weight=2.5, distill_center=False
    )
    model = keras.models.load_model(assets["model"], compile=False)
    # The first batch, rebuilt independently, and the loss the initial model gives it.
    ds = train_lib.make_dataset_fn(config, (TINY_SIZE, TINY_SIZE), 0)(None)
    batch = next(iter(ds))
    e = model(batch["image"], training=True).numpy().astype(np.float64)
    table = build_identity_table(index.labels, 2)
    first = [int(x["index"]) for x in pk_index_dataset(table, 4, 3, seed=1, num_steps=1)]
    distill_ref = np.mean(np.sum((e - t[first]) ** 2, axis=1))
    triplet = float(triplet_semihard_loss(batch["label"], e.astype(np.float32), margin=0.2))
    history = train_lib.run(config).history
    logged = [h for h in history if "loss" in h][0]
    np.testing.assert_allclose(logged["distill_loss"], distill_ref, rtol=1e-4)
    np.testing.assert_allclose(logged["loss"], triplet + 2.5 * distill_ref, rtol=1e-4)


def test_distillation_pulls_embeddings_to_the_targets(assets, distill_assets, tmp_path):
    path, _, _ = distill_assets
    values = base_config(assets, tmp_path, train_steps=40, log_every=1)
    values.update(optimizer="adam", learning_rate=0.01)
    config = TrainConfig(**values, distill_targets=str(path), distill_weight=1.0)
    d = [h["distill_loss"] for h in train_lib.run(config).history if "distill_loss" in h]
    assert np.mean(d[-8:]) < 0.8 * np.mean(d[:8]), (d[:8], d[-8:])


def test_distill_config_is_validated(assets, distill_assets, tmp_path):
    values = base_config(assets, tmp_path)
    with pytest.raises(InvalidInputError, match="distill_targets.*no such file"):
        TrainConfig(**values, distill_targets=str(tmp_path / "missing.npz"))
    with pytest.raises(InvalidInputError, match="distill_weight"):
        TrainConfig(**values, distill_targets=str(distill_assets[0]), distill_weight=-1.0)
    config = TrainConfig(**values, distill_targets=str(distill_assets[0]))
    with pytest.raises(InvalidInputError, match="8-D targets for a model with 16-D"):
        train_lib.make_dataset_fn(config, (TINY_SIZE, TINY_SIZE), 0, embedding_dim=16)
    with pytest.raises(InvalidInputError, match="folder-tree"):
        TrainConfig(**values, data_format="tfrecord", distill_targets=str(distill_assets[0]))


def test_distill_targets_binary(crops, tmp_path):
    out = tmp_path / "targets.npz"
    teacher_path = tmp_path / "teacher.keras"
    keras.utils.set_random_seed(1)
    tiny_model(size=20, embedding_dim=6).save(teacher_path)
    proc = subprocess.run(
        [sys.executable, "-m", "facenet_tf.train.distill_targets", f"--data_dir={crops}",
         f"--output={out}", f"--teacher={teacher_path}", "--teacher_template=facenet_160", "--progress=false"],
        env=subprocess_env(), cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "12 targets from tiny (2 unreadable)" in proc.stdout
    assert "broken.jpg" in proc.stderr and "oblong.png" in proc.stderr
    with np.load(out) as f:
        assert f["embeddings"].shape == (12, 6) and len(f["failed"]) == 2
