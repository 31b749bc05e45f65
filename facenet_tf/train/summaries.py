"""TensorBoard scalar summaries written with TensorFlow core alone.

``tf.summary.scalar`` needs the ``tensorboard`` package installed; the event files it
writes are plain ``tf.summary.write`` calls tagged for TensorBoard's "scalars" plugin.
Writing them that way keeps training free of the extra dependency while TensorBoard,
wherever it runs, reads the files as usual.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

SCALARS_PLUGIN = "scalars"


def _scalar_metadata() -> summary_pb2.SummaryMetadata:
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = SCALARS_PLUGIN
    # The plugin's ScalarPluginData (version 0) serialises to empty content.
    metadata.plugin_data.content = b""
    return metadata


def write_scalars(writer, values: Mapping[str, float], step: int) -> None:
    """Writes ``values`` as TensorBoard scalars at ``step`` with ``writer``.

    Args:
        writer: a ``tf.summary`` writer (``create_file_writer`` or a no-op writer).
        values: tag -> number.
        step: the global step.
    """
    metadata = _scalar_metadata()
    with writer.as_default(step=step):
        for tag, value in values.items():
            tf.summary.write(tag, tf.constant(value, tf.float32), metadata=metadata)


def read_scalars(event_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Reads the scalars of every event file in ``event_dir`` (tag -> [(step, value)])."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(tf.io.gfile.glob(f"{event_dir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name != SCALARS_PLUGIN:
                    continue
                value = float(tf.make_ndarray(v.tensor))
                out.setdefault(v.tag, []).append((int(event.step), value))
    return out
