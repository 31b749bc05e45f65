"""``facenet-tf gallery ACTION --gallery=DIR``: a persistent face gallery (facenet_tf.Gallery).

Actions:
  create    a new gallery folder (--model, --index: auto, flat, sq8, ivf_flat, ivf_sq8, hnsw)
  add       faces from --input folders ({identity}/{image}: the label is the folder name),
            from photos listed in --labels (a CSV with columns path,label), or, without
            re-embedding, from --embeddings (facenet-tf embed .csv/.json/.npy output or
            bulk-embed TFRecord/Parquet files; labels from --labels, else the photo's
            folder name). Writes the new ids to --output.
  remove    faces by --ids or by --label
  search    the --k nearest gallery faces of each --query photo, to --output
  identify  the label of each --query photo, or "unknown" beyond the threshold (--far,
            --threshold, or the model's default), to --output
  info      the gallery's model, size, index and files as JSON on stdout

Outputs are .csv or .json by suffix. Inputs that gave no face or could not be used
(unreadable files, photos without a face, rows without a label, extra faces of a photo)
are listed with the reason in <output>.failures.csv; nothing is dropped silently.
"""

from absl import app, flags

from facenet_tf.commands import define_model_flags

ACTIONS = ("create", "add", "remove", "search", "identify", "info")
# Photos embedded and added per step: bounds memory whatever the number of inputs.
CHUNK = 1024

_GALLERY = flags.DEFINE_string("gallery", None, "The gallery folder.")
_INDEX = flags.DEFINE_enum(
    "index", "auto", ["auto", "flat", "sq8", "ivf_flat", "ivf_sq8", "hnsw"], "create: index kind."
)
_INPUT = flags.DEFINE_list("input", None, "add: folders of identity folders.")
_LABELS = flags.DEFINE_string("labels", None, "add: CSV with columns path,label.")
_EMBEDDINGS = flags.DEFINE_list(
    "embeddings", None, "add: embedding files or globs (facenet-tf embed / bulk-embed output)."
)
_IDS = flags.DEFINE_list("ids", None, "remove: gallery ids.")
_LABEL = flags.DEFINE_string("label", None, "remove: every face with this label.")
_QUERY = flags.DEFINE_list("query", None, "search/identify: query image files and/or folders.")
_K = flags.DEFINE_integer("k", 5, "search: neighbours per query.", lower_bound=1)
_FAR = flags.DEFINE_float("far", None, "identify: calibrated false-accept rate, e.g. 0.001.")
_THRESHOLD = flags.DEFINE_float("threshold", None, "identify: squared-L2 threshold.")
_NPROBE = flags.DEFINE_integer("nprobe", None, "search/identify: IVF lists per query.")
_EF_SEARCH = flags.DEFINE_integer("ef_search", None, "search/identify: HNSW efSearch.")
_OUTPUT = flags.DEFINE_string(
    "output",
    None,
    "add/search/identify: .csv or .json (default gallery_<action>.csv); failures go to "
    "<output>.failures.csv.",
)
_PIPELINE = define_model_flags()
flags.mark_flag_as_required("gallery")


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ACTIONS:
        raise app.UsageError(f"name one action of {', '.join(ACTIONS)}; got {argv[1:]}")
    action = argv[1]
    if action == "create":
        _create()
    elif action == "info":
        _info()
    elif action == "remove":
        _remove()
    elif action == "add":
        _add()
    else:
        _query(action)


def _create() -> None:
    from facenet_tf.gallery import Gallery

    with Gallery.create(_GALLERY.value, model=_PIPELINE.model.value, index=_INDEX.value) as g:
        print(f"created {g.path}: model {g.model_name}, D={g.embedding_dim}, index {_INDEX.value}")


def _info() -> None:
    import json

    from facenet_tf.gallery import Gallery

    print(json.dumps(Gallery.open(_GALLERY.value, readonly=True).info(), indent=1))


def _remove() -> None:
    import numpy as np

    from facenet_tf.errors import InvalidInputError
    from facenet_tf.gallery import Gallery

    if bool(_IDS.value) == (_LABEL.value is not None):
        raise InvalidInputError("remove: give --ids or --label")
    with Gallery.open(_GALLERY.value) as g:
        if _IDS.value:
            try:
                ids = np.array([int(i) for i in _IDS.value], np.int64)
            except ValueError as e:
                raise InvalidInputError(f"--ids: expected integers ({e})") from e
        else:
            ids = g.find(label=_LABEL.value)
            if not len(ids):
                raise InvalidInputError(f"--label {_LABEL.value!r}: no such label in {g.path}")
        n = g.remove(ids)
    print(f"removed {n} faces from {g.path}; {len(g)} remain")


def _output(action: str):
    from facenet_tf import cli_lib

    return cli_lib.check_output(_OUTPUT.value or f"gallery_{action}.csv")


def _pipeline(g):
    """The face pipeline of the flags, on the gallery's model unless --model names one
    (which must then be the gallery's)."""
    if _PIPELINE.model.value is None:
        flags.FLAGS.model = g.model_name
    pipeline = _PIPELINE.pipeline()
    g.use_model(pipeline.embedder)
    return pipeline


def _add() -> None:
    from tqdm import tqdm

    from facenet_tf import cli_lib
    from facenet_tf.errors import InvalidInputError
    from facenet_tf.gallery import Gallery

    if (
        bool(_INPUT.value) + bool(_EMBEDDINGS.value) + bool(_LABELS.value and not _EMBEDDINGS.value)
        != 1
    ):
        raise InvalidInputError("add: give one of --input, --labels, or --embeddings")
    out = _output("add")
    rows, failures = [], []
    with Gallery.open(_GALLERY.value) as g:
        if _EMBEDDINGS.value:
            if _PIPELINE.model.value is not None:
                g.use_model(_PIPELINE.model.value)
            vectors, labels, sources, failures = _from_embeddings(g)
            ids = g.add(vectors, labels, sources) if len(vectors) else []
            rows = [[int(i), lab, s] for i, lab, s in zip(ids, labels, sources, strict=True)]
        else:
            if _INPUT.value:
                paths, labels = [], []
                for root in _INPUT.value:
                    p, lab, empty = cli_lib.gallery_from_folders(root)
                    paths += p
                    labels += lab
                    failures += empty
            else:
                paths, labels = _read_labels(_LABELS.value)
            pipeline = _pipeline(g)
            label_of = dict(zip(map(str, paths), labels, strict=True))
            bar = tqdm(total=len(paths), unit="img", disable=len(paths) < 2)
            for start in range(0, len(paths), CHUNK):
                chunk = paths[start : start + CHUNK]
                done, vectors, failed = cli_lib.embed_files(
                    chunk, pipeline, _PIPELINE.aligned.value, progress=False
                )
                failures += failed
                if done:
                    names = [str(p) for p in done]
                    chunk_labels = [label_of[n] for n in names]
                    ids = g.add(vectors, chunk_labels, names)
                    rows += [
                        [int(i), lab, n] for i, lab, n in zip(ids, chunk_labels, names, strict=True)
                    ]
                bar.update(len(chunk))
            bar.close()
    cli_lib.write_rows(out, ["id", "label", "source"], rows)
    manifest = cli_lib.write_failures(out, failures)
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"added {len(rows)} faces to {g.path} ({len(g)} in all) -> {out}{tail}")


def _read_labels(path: str):
    """(paths, labels) from a CSV with columns path,label."""
    import csv
    from pathlib import Path

    from facenet_tf.errors import InvalidInputError

    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise InvalidInputError(f"--labels {path}: needs a header with columns path,label")
        rows = [(r["path"], r["label"]) for r in reader]
    if not rows:
        raise InvalidInputError(f"--labels {path}: no rows")
    bad = [p for p, lab in rows if not lab]
    if bad:
        raise InvalidInputError(f"--labels {path}: empty label for {bad[0]}")
    return [Path(p) for p, _ in rows], [lab for _, lab in rows]


def _from_embeddings(g):
    """Vectors, labels, sources and failures from embedding files: one face per photo
    (face_index 0, the face ``embed`` picks), labelled from --labels or the folder name."""
    from pathlib import Path

    from facenet_tf import cli_lib
    from facenet_tf.data.embeddings_io import read_embeddings
    from facenet_tf.errors import InvalidInputError

    records = read_embeddings(_EMBEDDINGS.value, model=g.model_name)
    if len(records) and records.dim != g.embedding_dim:
        raise InvalidInputError(
            f"--embeddings: D={records.dim}, the gallery holds D={g.embedding_dim}"
        )
    label_of = None
    if _LABELS.value:
        paths, labels = _read_labels(_LABELS.value)
        label_of = dict(zip(map(str, paths), labels, strict=True))
    keep, labels, failures = [], [], []
    for i, (path, face) in enumerate(zip(records.paths, records.face_index, strict=True)):
        if face != 0:
            failures.append(
                cli_lib.Failure(
                    path, f"face {face} of the photo: labels name one face a photo", "extra face"
                )
            )
            continue
        label = label_of.get(path) if label_of is not None else Path(path).parent.name
        if not label:
            failures.append(cli_lib.Failure(path, "no label for this path", "no label"))
            continue
        keep.append(i)
        labels.append(label)
    return records.embeddings[keep], labels, [records.paths[i] for i in keep], failures


def _query(action: str) -> None:
    import json

    from facenet_tf import cli_lib
    from facenet_tf.gallery import Gallery
    from facenet_tf.tasks import UNKNOWN
    from facenet_tf.thresholds import checked_threshold

    out = _output(action)
    g = Gallery.open(_GALLERY.value, readonly=True)
    if _NPROBE.value:
        g.nprobe = _NPROBE.value
    if _EF_SEARCH.value:
        g.ef_search = _EF_SEARCH.value
    if action == "identify":
        # Checked before any photo is embedded.
        if _FAR.value is not None and _THRESHOLD.value is not None:
            raise app.UsageError("identify: give --far or --threshold, not both")
        if _THRESHOLD.value is None:
            t = g.threshold(_FAR.value)
        else:
            t = checked_threshold(_THRESHOLD.value, "--threshold")
    paths = cli_lib.collect_images(_QUERY.value)
    pipeline = _pipeline(g)
    done, vectors, failures = cli_lib.embed_files(paths, pipeline, _PIPELINE.aligned.value)
    rows = []
    if action == "search":
        header = ["query", "rank", "id", "label", "distance", "source"]
        if len(done):
            r = g.search(vectors, k=_K.value)
            for q, p in enumerate(done):
                rows += [
                    [str(p), rank + 1, int(r.ids[q, rank]), r.labels[q, rank],
                     float(r.distances[q, rank]), r.sources[q, rank]]
                    for rank in range(r.ids.shape[1])
                ]  # fmt: skip
    else:
        header = ["query", "label", "distance", "id", "source", "threshold"]
        if len(done):
            r = g.search(vectors, k=1)
            for q, p in enumerate(done):
                d = float(r.distances[q, 0])
                label = r.labels[q, 0] if d <= t else UNKNOWN
                rows.append([str(p), label, d, int(r.ids[q, 0]), r.sources[q, 0], t])
    cli_lib.write_rows(out, header, rows)
    manifest = cli_lib.write_failures(out, failures)
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"{action}: {len(done)} queries against {len(g)} gallery faces -> {out}{tail}")
    if action == "identify":
        print(json.dumps({"threshold": t}))


if __name__ == "__main__":
    app.run(main)
