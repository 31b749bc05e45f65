"""Damaged or half-written checkpoints are never restored; older intact ones are."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.train import checkpointing


@pytest.fixture()
def saved(tmp_path):
    """Checkpoints 1, 2, 3 of a variable whose value is the checkpoint number."""
    v = tf.Variable(np.zeros(1000, np.float32))
    ckpt = tf.train.Checkpoint(v=v)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=5)
    for n in (1, 2, 3):
        v.assign(np.full(1000, n, np.float32))
        manager.save(checkpoint_number=n)
    v.assign(np.full(1000, -1, np.float32))
    return tmp_path, ckpt, v


def _data_file(directory, n):
    return next(directory.glob(f"ckpt-{n}.data-*"))


def test_restores_the_newest(saved):
    directory, ckpt, v = saved
    path = checkpointing.restore_latest(ckpt, str(directory))
    assert path.endswith("ckpt-3") and checkpointing.checkpoint_step(path) == 3
    assert float(v[0]) == 3.0


def test_truncated_data_falls_back_to_the_previous(saved):
    directory, ckpt, v = saved
    data = _data_file(directory, 3)
    data.write_bytes(data.read_bytes()[:100])
    assert checkpointing.verify_checkpoint(str(directory / "ckpt-3")) is not None
    path = checkpointing.restore_latest(ckpt, str(directory))
    assert path.endswith("ckpt-2") and float(v[0]) == 2.0 and float(v[-1]) == 2.0


def test_missing_index_and_debris_of_an_unfinished_save_are_ignored(saved):
    directory, ckpt, v = saved
    (directory / "ckpt-3.index").unlink()
    # What a save killed midway leaves: temporary shards the state file never lists.
    temp = directory / "ckpt-4_temp" / "part-00000-of-00001.data-00000-of-00001"
    temp.parent.mkdir()
    temp.write_bytes(b"\0" * 10)
    path = checkpointing.restore_latest(ckpt, str(directory))
    assert path.endswith("ckpt-2") and float(v[0]) == 2.0


def test_nothing_to_restore(tmp_path):
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    assert checkpointing.restore_latest(ckpt, str(tmp_path / "none")) is None
    assert checkpointing.candidate_checkpoints(str(tmp_path)) == []


def test_checkpoint_step_parsing():
    assert checkpointing.checkpoint_step("/a/b/ckpt-1200") == 1200
    with pytest.raises(ValueError):
        checkpointing.checkpoint_step("/a/b/model")
