"""``facenet-tf cluster``: group the faces in image files/folders by identity."""

from absl import app, flags

from facenet_tf.commands import define_model_flags

_INPUT = flags.DEFINE_list("input", None, "Image files and/or folders.")
_OUTPUT = flags.DEFINE_string("output", "clusters.csv", "Output file: .csv or .json.")
_METHOD = flags.DEFINE_enum(
    "method", "agglomerative", ["agglomerative", "dbscan", "kmeans"], "Clustering algorithm."
)
_THRESHOLD = flags.DEFINE_float("threshold", None, "Squared-L2 join threshold.")
_N_CLUSTERS = flags.DEFINE_integer("n_clusters", None, "Fixed number of clusters.")
_PIPELINE = define_model_flags()
flags.mark_flag_as_required("input")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf import cli_lib
    from facenet_tf.tasks import cluster

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
    cli_lib.write_rows(_OUTPUT.value, ["path", "cluster"], rows)
    manifest = cli_lib.write_failures(_OUTPUT.value, failures)
    n = len(set(int(c) for c in labels) - {-1})
    print(f"{len(done)} faces in {n} clusters -> {_OUTPUT.value}")
    if manifest:
        print(f"{len(failures)} images failed -> {manifest}")


if __name__ == "__main__":
    app.run(main)
