"""TFRecord schema of facenet-tf training shards: one ``tf.train.Example`` per identity.

Identity-balanced P x K batches need K images of one identity at a time. TFRecord files
can only be read sequentially, so each record holds one identity with all its encoded
images; a reader shuffles identities, then picks K images inside a record. Features:

===================  ==========  =====================================================
key                  type        meaning
===================  ==========  =====================================================
identity/name        bytes       identity folder name
identity/label       int64       label, the identity's index in the writer's sorted names
image/count          int64       n, number of images in the record
image/encoded        bytes [n]   the image files' bytes as stored (JPEG, PNG, BMP)
image/filename       bytes [n]   file names, for provenance
===================  ==========  =====================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

SCHEMA_VERSION = 1
SHARD_SUFFIX = ".tfrecord"
LABELS_FILE = "labels.txt"

FEATURES = {
    "identity/name": tf.io.FixedLenFeature([], tf.string),
    "identity/label": tf.io.FixedLenFeature([], tf.int64),
    "image/count": tf.io.FixedLenFeature([], tf.int64),
    "image/encoded": tf.io.RaggedFeature(tf.string),
    "image/filename": tf.io.RaggedFeature(tf.string),
}


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def serialize_identity(
    name: str, label: int, encoded: Sequence[bytes], filenames: Sequence[str]
) -> bytes:
    """Serialises one identity record.

    Args:
        name: identity folder name.
        label: its label.
        encoded: n encoded image files.
        filenames: their n file names.

    Returns:
        A serialized ``tf.train.Example``.
    """
    if len(encoded) != len(filenames):
        raise ValueError(f"{name}: {len(encoded)} images but {len(filenames)} file names")
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "identity/name": _bytes([name.encode("utf-8")]),
                "identity/label": _int64(label),
                "image/count": _int64(len(encoded)),
                "image/encoded": _bytes(encoded),
                "image/filename": _bytes([f.encode("utf-8") for f in filenames]),
            }
        )
    )
    return example.SerializeToString()


def parse_identity(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses one serialized identity record (graph op, usable in ``Dataset.map``).

    Returns:
        ``{"name": string [], "label": int32 [], "count": int32 [],
        "encoded": string [n], "filename": string [n]}``.
    """
    f = tf.io.parse_single_example(serialized, FEATURES)
    return {
        "name": f["identity/name"],
        "label": tf.cast(f["identity/label"], tf.int32),
        "count": tf.cast(f["image/count"], tf.int32),
        "encoded": f["image/encoded"],
        "filename": f["image/filename"],
    }
