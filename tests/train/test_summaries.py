"""Scalar summaries readable by TensorBoard, written without the tensorboard package."""

from __future__ import annotations

import tensorflow as tf

from facenet_tf.train import summaries


def test_scalars_round_trip(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    summaries.write_scalars(writer, {"loss": 0.5, "val/accuracy": 0.75}, step=3)
    summaries.write_scalars(writer, {"loss": 0.25}, step=4)
    writer.flush()
    assert summaries.read_scalars(str(tmp_path)) == {
        "loss": [(3, 0.5), (4, 0.25)],
        "val/accuracy": [(3, 0.75)],
    }
