r"""Writes aligned face folder trees as TFRecord training shards.

Example:
  python -m facenet_tf.data.make_tfrecords \
      --input_dirs=/data/aligned_a,/data/aligned_b --output_dir=/data/tfrecords
"""

from __future__ import annotations

from absl import app, flags, logging

from facenet_tf.data import make_tfrecords_lib
from facenet_tf.errors import InvalidInputError

_INPUT_DIRS = flags.DEFINE_list(
    "input_dirs", None, "Folder trees {identity}/{image}; same-named identities are merged."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where shards and manifest.json go.")
_PREFIX = flags.DEFINE_string("prefix", "train", "Shard file name prefix.")
_SHARD_SIZE_MB = flags.DEFINE_float("shard_size_mb", 128.0, "Target shard size in MiB.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 0, "Exact shard count (0: by shard_size_mb).")
_MIN_IMAGES = flags.DEFINE_integer(
    "min_images", 1, "Identities with fewer readable images are left out."
)
_VERIFY = flags.DEFINE_boolean("verify", True, "Decode every image first; skip unreadable ones.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = make_tfrecords_lib.MakeTFRecordsConfig(
            input_dirs=tuple(_INPUT_DIRS.value or ()),
            output_dir=_OUTPUT_DIR.value or "",
            prefix=_PREFIX.value,
            shard_size_mb=_SHARD_SIZE_MB.value,
            num_shards=_NUM_SHARDS.value,
            min_images_per_identity=_MIN_IMAGES.value,
            verify=_VERIFY.value,
        )
    except InvalidInputError as err:
        raise app.UsageError(str(err)) from None
    manifest = make_tfrecords_lib.run(config)
    logging.info(
        "wrote %d identities, %d images in %d shards to %s (%d failures, see manifest.json)",
        manifest["num_identities"],
        manifest["num_images"],
        len(manifest["shards"]),
        config.output_dir,
        len(manifest["failures"]),
    )


if __name__ == "__main__":
    app.run(main)
