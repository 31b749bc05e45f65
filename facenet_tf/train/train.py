r"""Trains a FaceNet embedding with the triplet loss on identity-balanced batches.

Example (one device):
  python -m facenet_tf.train.train --model=nn4 --data_dir=/data/aligned \
      --workdir=/tmp/nn4 --identities_per_batch=45 --images_per_identity=40 \
      --augment.jpeg_prob=0.2 \
      --val_pairs=/data/lfw/pairsDevTest.txt --val_images_dir=/data/lfw/lfw-deepfunneled

Every field of ``facenet_tf.train.config.TrainConfig`` is a flag, with its type, default
and help; the fields of the nested augmentation config are ``--augment.<field>``.
``--config=FILE.json`` starts from a config file (``{workdir}/config.json`` of an earlier
run is one) and the flags given on the command line override it; ``--flagfile=run.flags``
works too. Several GPUs: ``--strategy=mirrored``; a cluster: ``--strategy=multi_worker``
with TF_CONFIG set on every worker; a TPU: ``--strategy=tpu --tpu=NAME --xla
--precision=mixed_bfloat16``.

The configuration is validated before any device, file or model is touched, and written
to ``{workdir}/config.json``. Re-running resumes from the newest intact checkpoint in the
workdir; a config that differs from the saved one in more than
``config.RESUMABLE_FIELDS`` (step and time budgets, intervals, devices) is refused.
"""

from __future__ import annotations

from absl import app, flags

from facenet_tf.errors import InvalidInputError
from facenet_tf.train import config as config_lib
from facenet_tf.train import config_flags

_FIELDS = config_flags.define_flags(config_lib.TrainConfig, exclude=config_lib.NOT_FLAGS)
_CONFIG = flags.DEFINE_string(
    "config",
    None,
    "A config JSON file ({workdir}/config.json of an earlier run, or written by hand); "
    "flags given on the command line override its values.",
)


def config_from_flags() -> config_lib.TrainConfig:
    """Builds (and so validates) the config from ``--config`` and the parsed flags."""
    base = config_lib.read_json(_CONFIG.value) if _CONFIG.value else None
    return config_flags.config_from_flags(config_lib.TrainConfig, _FIELDS, base)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags()
    except InvalidInputError as err:
        raise app.UsageError(str(err)) from None
    # Imported only now: nothing heavy runs before the config is known to be valid.
    from facenet_tf.train import train_lib

    try:
        result = train_lib.run(config)
    except config_lib.ConfigMismatchError as err:
        raise app.UsageError(str(err)) from None
    if result.keras_path:
        print(f"trained to step {result.final_step}; model saved to {result.keras_path}")


if __name__ == "__main__":
    app.run(main)
