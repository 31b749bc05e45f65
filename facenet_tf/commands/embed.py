"""``facenet-tf embed``: embeddings of image files and folders.

Writes one row per embedded image (path, then D values) as CSV or JSON, or an .npy
array with a ``.paths.txt`` beside it. Unreadable files go to ``<output>.failures.csv``.
"""

from pathlib import Path

import numpy as np
from absl import app, flags, logging

from facenet_tf.commands import define_model_flags

_INPUT = flags.DEFINE_list("input", None, "Image files and/or folders (searched recursively).")
_OUTPUT = flags.DEFINE_string("output", "embeddings.csv", "Output file: .csv, .json or .npy.")
_PIPELINE = define_model_flags()
flags.mark_flag_as_required("input")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf import cli_lib

    suffix = Path(_OUTPUT.value).suffix.lower()
    if suffix not in (".csv", ".json", ".npy"):
        raise app.UsageError(f"--output must end in .csv, .json or .npy, got {_OUTPUT.value}")
    paths = cli_lib.collect_images(_INPUT.value)
    pipeline = _PIPELINE.pipeline()
    done, vectors, failures = cli_lib.embed_files(paths, pipeline, _PIPELINE.aligned.value)
    out = Path(_OUTPUT.value)
    if suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        out.with_suffix(".paths.txt").write_text("".join(f"{p}\n" for p in done))
    else:
        header = ["path"] + [f"e{i}" for i in range(vectors.shape[1])]
        rows = [[str(p), *map(float, v)] for p, v in zip(done, vectors, strict=True)]
        cli_lib.write_rows(out, header, rows)
    manifest = cli_lib.write_failures(out, failures)
    print(f"embedded {len(done)} of {len(paths)} images -> {out}")
    if manifest:
        logging.warning("%d images failed; listed in %s", len(failures), manifest)
        print(f"{len(failures)} failed -> {manifest}")


if __name__ == "__main__":
    app.run(main)
