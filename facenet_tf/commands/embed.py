"""``facenet-tf embed``: embeddings of image files and folders.

The output format follows the --output suffix: .csv or .json (one row per embedded image:
path, then the D values e0..e{D-1}), or .npy (a float32 [N, D] array, with the N paths,
one a line, in <name>.paths.txt beside it). Inputs that gave no vector (unreadable files,
broken links, photos with no detectable face) are listed with the reason in
<output>.failures.csv; a run without failures removes an old one.
"""

from absl import app, flags

from facenet_tf.commands import define_model_flags

SUFFIXES = (".csv", ".json", ".npy")

_INPUT = flags.DEFINE_list("input", None, "Image files and/or folders (searched recursively).")
_OUTPUT = flags.DEFINE_string(
    "output",
    "embeddings.csv",
    "Output file: .csv, .json or .npy (.npy also writes <name>.paths.txt); failures go to "
    "<output>.failures.csv.",
)
_PIPELINE = define_model_flags()
flags.mark_flag_as_required("input")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import numpy as np

    from facenet_tf import cli_lib

    out = cli_lib.check_output(_OUTPUT.value, SUFFIXES)
    paths = cli_lib.collect_images(_INPUT.value)
    pipeline = _PIPELINE.pipeline()
    done, vectors, failures = cli_lib.embed_files(paths, pipeline, _PIPELINE.aligned.value)
    if out.suffix.lower() == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        out.with_suffix(".paths.txt").write_text("".join(f"{p}\n" for p in done))
    else:
        header = ["path"] + [f"e{i}" for i in range(vectors.shape[1])]
        rows = [[str(p), *map(float, v)] for p, v in zip(done, vectors, strict=True)]
        cli_lib.write_rows(out, header, rows)
    manifest = cli_lib.write_failures(out, failures)
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"embedded {len(done)} of {len(paths)} images -> {out}{tail}")


if __name__ == "__main__":
    app.run(main)
