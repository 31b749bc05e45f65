r"""Computes a teacher's embeddings of aligned training faces, for distillation.

    python -m facenet_tf.train.distill_targets --data_dir=aligned_a,aligned_b \
        --output=targets.npz [--teacher=dlib_resnet_v1] [--source_template=facenet_160]

Then train with ``--distill_targets=targets.npz --distill_weight=1``. Unreadable images
are listed in the file (and printed) and get no target; nothing else is skipped.
"""

from __future__ import annotations

import sys

from absl import app, flags

from facenet_tf.errors import InvalidInputError

_DATA_DIR = flags.DEFINE_list("data_dir", None, "Aligned folder trees {identity}/{image}.")
_OUTPUT = flags.DEFINE_string("output", None, "Targets file (.npz) to write.")
_TEACHER = flags.DEFINE_string("teacher", "dlib_resnet_v1", "Registry name or .keras teacher.")
_SOURCE = flags.DEFINE_enum(
    "source_template",
    "facenet_160",
    ["facenet_160", "dlib_150", "mobile_112"],
    "Template the crops in data_dir were aligned with.",
)
_TEACHER_TEMPLATE = flags.DEFINE_enum(
    "teacher_template",
    None,
    ["facenet_160", "dlib_150", "mobile_112"],
    "Template of an unregistered .keras teacher (a registered one declares its own).",
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per teacher forward pass.")
_FLIP = flags.DEFINE_boolean("flip", True, "Average with the mirrored crop's embedding.")
_PROGRESS = flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _DATA_DIR.value or not _OUTPUT.value:
        raise app.UsageError("--data_dir and --output are required")
    if _BATCH.value < 1:
        raise app.UsageError(f"--batch_size must be >= 1, got {_BATCH.value}")
    from facenet_tf.data.folder import scan_folder_tree
    from facenet_tf.train import distill

    try:
        index = scan_folder_tree(_DATA_DIR.value)
    except InvalidInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bar = None
    if _PROGRESS.value:
        from tqdm import tqdm

        bar = tqdm(total=len(index), unit="img", mininterval=2.0)

    def progress(done: int) -> None:
        bar.update(done - bar.n)

    embeddings, failed, meta = distill.compute_targets(
        index.paths,
        teacher=_TEACHER.value,
        source_template=_SOURCE.value,
        batch_size=_BATCH.value,
        flip=_FLIP.value,
        progress=progress if bar else None,
        teacher_template=_TEACHER_TEMPLATE.value,
    )
    if bar:
        bar.close()
    distill.save_targets(_OUTPUT.value, index.paths, embeddings, failed, meta)
    for path, reason in sorted(failed.items()):
        print(f"no target: {path}: {reason}", file=sys.stderr)
    print(
        f"{len(index) - len(failed)} targets from {meta['teacher']} "
        f"({len(failed)} unreadable) -> {_OUTPUT.value}"
    )
    return 0


if __name__ == "__main__":
    app.run(main)
