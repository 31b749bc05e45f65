r"""Aligns a face dataset tree: ``{identity}/{image}`` in, aligned crops out.

    python -m facenet_tf.align.align_dataset --input_dir=raw --output_dir=aligned \
        [--model=dlib_resnet_v1 | --template=dlib_150] [--policy=center_weighted] [--num_workers=0]

    python -m facenet_tf.align.align_dataset --input_dir=raw --output_dir=tight \
        --template=margin --image_size=160 --margin=32

The template defaults to the one ``--model`` (default: the default model) expects, so the
crops fit that model; each crop records its template in the file. Re-running skips
finished outputs; every input is listed with its status, reason and template in
``<output_dir>/align_manifest.csv``. See ``align_dataset_lib`` for the details.
"""

from __future__ import annotations

import os
import signal
import sys

from absl import app, flags

from facenet_tf.align import align_dataset_lib as lib
from facenet_tf.errors import InvalidInputError, ModelNotFoundError
from facenet_tf.face_choice import DEFAULT_POLICY, POLICIES
from facenet_tf.models.registry import default_model_name

_INPUT = flags.DEFINE_string("input_dir", None, "Input tree of images.", required=True)
_OUTPUT = flags.DEFINE_string("output_dir", None, "Output tree (created).", required=True)
_MODEL = flags.DEFINE_string(
    "model", None, "Embedding model the crops are for; default the default model."
)
_TEMPLATE = flags.DEFINE_enum(
    "template",
    None,
    ["facenet_160", "dlib_150", "mobile_112", "margin"],
    "Alignment template, or 'margin' for the box-plus-margin crop (scale + translation); "
    "default the template --model expects.",
)
_SIZE = flags.DEFINE_integer("image_size", None, "Crop side; default the template's own.")
_MARGIN = flags.DEFINE_float("margin", None, "Pixels added to the box side (margin mode; 32).")
_POLICY = flags.DEFINE_enum(
    "policy",
    DEFAULT_POLICY,
    list(POLICIES),
    "Which faces to keep per image: one as facenet_tf.embed chooses it (center_weighted), "
    "the largest, the most central, or all.",
)
_MIN_FACE = flags.DEFINE_float("min_face_size", 20.0, "Smallest face side searched, pixels.")
_WORKERS = flags.DEFINE_integer(
    "num_workers", 0, "Worker processes; 0 = one per core (at most 8, threads cover the rest)."
)
_BATCH = flags.DEFINE_integer("batch_size", 16, "Images per detector batch.")
_FORMAT = flags.DEFINE_enum("output_format", "png", ["png", "jpg"], "Output file format.")
_MANIFEST = flags.DEFINE_string("manifest", None, "Manifest CSV; default in output_dir.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")


def config_from_flags() -> lib.AlignDatasetConfig:
    """Flags -> validated, frozen config."""
    cores = os.cpu_count() or 1
    workers = _WORKERS.value or min(cores, 8)
    return lib.AlignDatasetConfig(
        input_dir=_INPUT.value,
        output_dir=_OUTPUT.value,
        template=_TEMPLATE.value,
        model=_MODEL.value,
        image_size=_SIZE.value,
        margin=_MARGIN.value,
        policy=_POLICY.value,
        min_face_size=_MIN_FACE.value,
        num_workers=workers,
        threads_per_worker=max(1, cores // workers),
        batch_size=_BATCH.value,
        output_format=_FORMAT.value,
        manifest=_MANIFEST.value,
        progress=_PROGRESS.value,
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    # `kill` stops the run as cleanly as Ctrl-C: workers end, the manifest is written.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        config = config_from_flags()
        model = config.model or default_model_name()
        expected = lib.default_template(model)
        if config.template != expected:  # an explicit --template wins, but say so
            print(
                f"warning: model {model!r} expects template {expected!r}; these "
                f"{config.template!r} crops do not fit it",
                file=sys.stderr,
            )
        summary = lib.run(config)
    except (InvalidInputError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished outputs are kept, re-run to continue")
        return 130
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items()))
    print(f"{summary.total} inputs ({counts}); manifest: {summary.manifest}")
    return 0


if __name__ == "__main__":
    app.run(main)
