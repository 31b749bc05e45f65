"""Checkpoints that survive ``kill -9``: verified before they are restored.

TensorFlow writes a checkpoint's data and index files first and only then rewrites the
small ``checkpoint`` state file (atomically) to list it, so a process killed while
saving leaves the state file naming the previous checkpoint. ``restore_latest`` adds a
second guard for storage that loses or truncates files: it reads every tensor of a
candidate before restoring it and falls back to older checkpoints when one is damaged.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf
from absl import logging

_CKPT_NUMBER = re.compile(r"-(\d+)$")


def checkpoint_step(path: str) -> int:
    """The number a CheckpointManager put at the end of ``path`` (``.../ckpt-1200``)."""
    match = _CKPT_NUMBER.search(path)
    if not match:
        raise ValueError(f"{path}: not a numbered checkpoint")
    return int(match.group(1))


def verify_checkpoint(path: str) -> str | None:
    """None when every tensor of checkpoint ``path`` reads back, else the reason."""
    if not tf.io.gfile.exists(path + ".index"):
        return "index file missing"
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError, OSError) as err:
        return f"{type(err).__name__}: {str(err).splitlines()[0]}"
    return None


def candidate_checkpoints(directory: str) -> list[str]:
    """Checkpoints the state file in ``directory`` lists, newest first."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    paths = [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]
    return sorted(set(paths), key=checkpoint_step, reverse=True)


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str) -> str | None:
    """Restores the newest intact checkpoint in ``directory``.

    Args:
        checkpoint: the object graph to restore (model, optimizer, step).
        directory: the CheckpointManager's directory.

    Returns:
        The restored checkpoint's path, or None when there is none (a fresh start).
    """
    for path in candidate_checkpoints(directory):
        reason = verify_checkpoint(path)
        if reason:
            logging.warning("skipping damaged checkpoint %s (%s)", path, reason)
            continue
        checkpoint.restore(path).assert_existing_objects_matched()
        return path
    return None
