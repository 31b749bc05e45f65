"""``facenet-tf cluster``: group faces by identity, from image files/folders and/or from
embeddings already computed.

--input names photos to embed; --embeddings names embedding files written before
(``facenet-tf embed --output=x.csv``/.json/.npy, or the TFRecord/Parquet shards of the
bulk pipeline), read by ``facenet_tf.data.read_embeddings`` and clustered without
embedding again; a photo of --input that these files already hold is not embedded again.
The files must come from --model (the default model when not given).

--method=auto (default) clusters up to 2,000 faces with all-pairs agglomerative
clustering (the paper's method) and more with the k-nearest-neighbour graph method
(O(N k) memory); with --n_clusters, agglomerative up to 5,000 faces. See
docs/clustering.md.

Writes one row per face (path, cluster; with --embeddings also face_index, the face's
number within its photo; -1 is noise for dbscan) as .csv or .json, by the --output
suffix. Inputs that gave no face (unreadable files, broken links, photos with no
detectable face) are listed with the reason in <output>.failures.csv; a run without
failures removes an old one.
"""

from absl import app, flags

from facenet_tf.commands import define_model_flags

_INPUT = flags.DEFINE_list("input", [], "Image files and/or folders.")
_EMBEDDINGS = flags.DEFINE_list(
    "embeddings",
    [],
    "Embedding files or globs (facenet-tf embed .csv/.json/.npy output, bulk-embed "
    ".tfrecord/.parquet shards or their output prefix), clustered without re-embedding.",
)
_OUTPUT = flags.DEFINE_string(
    "output",
    "clusters.csv",
    "Output file: .csv or .json; failures go to <output>.failures.csv.",
)
_METHOD = flags.DEFINE_enum(
    "method",
    "auto",
    ["auto", "agglomerative", "graph", "dbscan", "kmeans"],
    "Clustering algorithm; auto: agglomerative up to 2,000 faces (5,000 with --n_clusters), "
    "graph above.",
)
_THRESHOLD = flags.DEFINE_float(
    "threshold",
    None,
    "Squared-L2 join threshold (default: the model's verify threshold times 0.8 for "
    "agglomerative, 0.6 for the graph method, 1 for dbscan).",
)
_N_CLUSTERS = flags.DEFINE_integer("n_clusters", None, "Fixed number of clusters.", lower_bound=1)
_K = flags.DEFINE_integer(
    "k", None, "Graph method: neighbours per face (default: 16).", lower_bound=1
)
_GRAPH_ALGORITHM = flags.DEFINE_enum(
    "graph_algorithm",
    "chinese_whispers",
    ["chinese_whispers", "connected_components"],
    "Graph method: how the neighbour graph is split into clusters.",
)
_PIPELINE = define_model_flags()


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _INPUT.value and not _EMBEDDINGS.value:
        raise app.UsageError("give --input (images) and/or --embeddings (embedding files)")
    import numpy as np

    from facenet_tf import cli_lib
    from facenet_tf.tasks import cluster

    out = cli_lib.check_output(_OUTPUT.value)
    paths = cli_lib.collect_images(_INPUT.value) if _INPUT.value else []
    pipeline = _PIPELINE.pipeline() if paths else None
    embedder = pipeline.embedder if pipeline else _embedder()
    rows_paths: list[str] = []
    face_index: list[int] = []
    parts = []
    if _EMBEDDINGS.value:
        from facenet_tf.data import read_embeddings

        records = read_embeddings(_EMBEDDINGS.value, model=embedder.name)
        rows_paths += list(records.paths)
        face_index += [int(i) for i in records.face_index]
        parts.append(records.embeddings)
        held = {_key(p) for p in records.paths}
        paths = [p for p in paths if _key(p) not in held]
    failures: list[cli_lib.Failure] = []
    if paths:
        done, vectors, failures = cli_lib.embed_files(paths, pipeline, _PIPELINE.aligned.value)
        rows_paths += [str(p) for p in done]
        face_index += [0] * len(done)
        parts.append(vectors)
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.embedding_dim))
    labels = (
        cluster(
            vectors,
            method=_METHOD.value,
            threshold=_THRESHOLD.value,
            n_clusters=_N_CLUSTERS.value,
            model=embedder,
            **({"k": _K.value} if _K.value else {}),
            graph_algorithm=_GRAPH_ALGORITHM.value,
            progress=True,
        )
        if len(vectors)
        else []
    )
    if _EMBEDDINGS.value:
        header = ["path", "face_index", "cluster"]
        rows = [[p, i, int(c)] for p, i, c in zip(rows_paths, face_index, labels, strict=True)]
    else:
        header = ["path", "cluster"]
        rows = [[p, int(c)] for p, c in zip(rows_paths, labels, strict=True)]
    cli_lib.write_rows(out, header, rows)
    manifest = cli_lib.write_failures(out, failures)
    n = len(set(int(c) for c in labels) - {-1})
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"{len(rows)} faces in {n} clusters -> {out}{tail}")


def _embedder():
    from facenet_tf.inference import get_embedder

    return get_embedder(_PIPELINE.model.value)


def _key(path) -> str:
    """A photo's identity for matching --input against the embedding files."""
    import os

    return os.path.normpath(os.path.abspath(os.fspath(path)))


if __name__ == "__main__":
    app.run(main)
