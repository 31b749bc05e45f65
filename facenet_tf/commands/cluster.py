"""``facenet-tf cluster``: group the faces in image files/folders by identity.

Writes one row per embedded image (path, cluster; -1 is noise for dbscan) as .csv or
.json, by the --output suffix. Inputs that gave no face (unreadable files, broken links,
photos with no detectable face) are listed with the reason in <output>.failures.csv; a
run without failures removes an old one.
"""

from absl import app, flags

from facenet_tf.commands import define_model_flags

_INPUT = flags.DEFINE_list("input", None, "Image files and/or folders.")
_OUTPUT = flags.DEFINE_string(
    "output",
    "clusters.csv",
    "Output file: .csv or .json; failures go to <output>.failures.csv.",
)
_METHOD = flags.DEFINE_enum(
    "method", "agglomerative", ["agglomerative", "dbscan", "kmeans"], "Clustering algorithm."
)
_THRESHOLD = flags.DEFINE_float("threshold", None, "Squared-L2 join threshold.")
_N_CLUSTERS = flags.DEFINE_integer("n_clusters", None, "Fixed number of clusters.", lower_bound=1)
_PIPELINE = define_model_flags()
flags.mark_flag_as_required("input")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf import cli_lib
    from facenet_tf.tasks import cluster

    out = cli_lib.check_output(_OUTPUT.value)
    paths = cli_lib.collect_images(_INPUT.value)
    pipeline = _PIPELINE.pipeline()
    done, vectors, failures = cli_lib.embed_files(paths, pipeline, _PIPELINE.aligned.value)
    labels = (
        cluster(
            vectors,
            method=_METHOD.value,
            threshold=_THRESHOLD.value,
            n_clusters=_N_CLUSTERS.value,
            model=pipeline.embedder,
        )
        if len(done)
        else []
    )
    rows = [[str(p), int(c)] for p, c in zip(done, labels, strict=True)]
    cli_lib.write_rows(out, ["path", "cluster"], rows)
    manifest = cli_lib.write_failures(out, failures)
    n = len(set(int(c) for c in labels) - {-1})
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"{len(done)} faces in {n} clusters -> {out}{tail}")


if __name__ == "__main__":
    app.run(main)
