"""Embedding files: the record schema of ``facenet-tf bulk-embed`` and one reader for
every embedding output of the project.

``read_embeddings`` reads

* TFRecord shards (``.tfrecord``, ``.tfrecord.gz``) of ``tf.train.Example`` with the
  features of ``FEATURES`` (written by ``facenet_tf.pipelines.bulk_embed``);
* Parquet files (``.parquet``) with the same columns;
* the ``.csv``/``.json`` files of ``facenet-tf embed --output=...`` (a ``path`` column
  and ``e0 .. e{D-1}``; one face per photo, so ``face_index`` is 0) and its ``.npy``
  output (with ``<name>.paths.txt`` beside it). These record no model name.

Records come back sorted by (path, face_index), so the same run reads identically
however its output was sharded. A damaged or foreign file raises
``EmbeddingsFileError`` naming it; so do mixed models, mixed dimensions and a
(path, face_index) present twice: nothing is merged by guesswork.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from facenet_tf.errors import EmbeddingsFileError

# Feature / column names of one face record (TFRecord features and Parquet columns).
PATH = "path"  # bytes (UTF-8): the photo as the pipeline read it
FACE_INDEX = "face_index"  # int64: 0 = the face facenet_tf.embed(path) would choose
BOX = "box"  # 4 floats: x1, y1, x2, y2 in the photo's pixels
LANDMARKS = "landmarks"  # 10 floats: (x, y) of eyes, nose, mouth corners, flattened
SCORE = "score"  # float: detector confidence
EMBEDDING = "embedding"  # D floats: unit vector
MODEL = "model"  # bytes (UTF-8): the model's registered name
FEATURES = (PATH, FACE_INDEX, BOX, LANDMARKS, SCORE, EMBEDDING, MODEL)
BOX_SIZE = 4
LANDMARKS_SIZE = 10

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz")
PARQUET_SUFFIX = ".parquet"
ROW_SUFFIXES = (".csv", ".json")
NPY_SUFFIX = ".npy"
# Shard names of a pipeline output prefix (Beam's default shard template).
# SSSSS and NNNNN are at least five digits, so prefix "run" does not take "run-2"'s shards.
_SHARD = "{prefix}-[0-9][0-9][0-9][0-9][0-9]*-of-[0-9][0-9][0-9][0-9][0-9]*"
SHARD_PATTERNS = (_SHARD + ".tfrecord", _SHARD + ".tfrecord.gz", _SHARD + ".parquet")
_GLOB_CHARS = frozenset("*?[")


@dataclasses.dataclass(frozen=True)
class EmbeddingRecords:
    """Face embeddings read from files, sorted by (path, face_index).

    Attributes:
        paths: N photo paths.
        face_index: int64 [N]; 0 is the face ``facenet_tf.embed(path)`` uses.
        embeddings: float32 [N, D].
        model: the model's name; "" when the files record none (``facenet-tf embed``
            output read without ``model=``).
        boxes: float32 [N, 4] (x1, y1, x2, y2), or None where the files have none.
        landmarks: float32 [N, 10] (x, y of the five points), or None.
        scores: float32 [N] detector confidences, or None.
    """

    paths: list[str]
    face_index: np.ndarray
    embeddings: np.ndarray
    model: str
    boxes: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dim(self) -> int:
        """D, the embedding size."""
        return int(self.embeddings.shape[1])


@dataclasses.dataclass
class _Part:
    """What one file holds, before merging."""

    file: str
    paths: list[str]
    face_index: np.ndarray
    embeddings: np.ndarray
    models: set[str]
    boxes: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    scores: np.ndarray | None = None


# --- files ----------------------------------------------------------------------------


def _is_url(path: str) -> bool:
    return "://" in path


def _glob(pattern: str) -> list[str]:
    if _is_url(pattern):
        import tensorflow as tf

        return sorted(tf.io.gfile.glob(pattern))
    return sorted(p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))


def _open(path: str, mode: str = "rb"):
    if _is_url(path):
        import tensorflow as tf

        return tf.io.gfile.GFile(path, mode)
    return open(path, mode, **({} if "b" in mode else {"newline": ""}))


def expand_patterns(pattern: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The files a pattern (or several) names, sorted and without repeats.

    A pattern is a file, a glob (``out/run-*.tfrecord``, ``gs://b/run-*``) or the
    ``--output_prefix`` of a bulk-embed run (its TFRecord or Parquet shards).

    Raises:
        EmbeddingsFileError: a pattern that matches no file (named).
    """
    patterns = [pattern] if isinstance(pattern, str | os.PathLike) else list(pattern)
    if not patterns:
        raise EmbeddingsFileError("no embedding files given")
    files: list[str] = []
    for p in map(os.fspath, patterns):
        found = _glob(p)
        if not found and not (_GLOB_CHARS & set(p)):
            for shard in SHARD_PATTERNS:
                found = _glob(shard.format(prefix=p))
                if found:
                    break
        if not found:
            raise EmbeddingsFileError(f"{p}: no embedding files match")
        files.extend(found)
    return sorted(dict.fromkeys(files))


def _kind(file: str) -> str:
    name = file.lower()
    if name.endswith(TFRECORD_SUFFIXES):
        return "tfrecord"
    if name.endswith(".failures.csv") or name.endswith(".jsonl"):
        raise EmbeddingsFileError(
            f"{file}: is a failures manifest, not embeddings (read the embedding files: "
            "*.tfrecord, *.parquet, or the --output of facenet-tf embed)"
        )
    for suffix, kind in ((PARQUET_SUFFIX, "parquet"), (NPY_SUFFIX, "npy")):
        if name.endswith(suffix):
            return kind
    if name.endswith(ROW_SUFFIXES):
        return "rows"
    raise EmbeddingsFileError(
        f"{file}: unknown embedding file type; use "
        f"{', '.join((*TFRECORD_SUFFIXES, PARQUET_SUFFIX, *ROW_SUFFIXES, NPY_SUFFIX))}"
    )


# --- readers, one per format -----------------------------------------------------------


def _read_tfrecord(file: str) -> _Part:
    import tensorflow as tf

    compression = "GZIP" if file.lower().endswith(".gz") else ""
    raw = tf.data.TFRecordDataset(file, compression_type=compression)
    try:
        first = next(iter(raw.take(1)), None)
        if first is None:
            return _empty_part(file)
        example = tf.train.Example.FromString(first.numpy())
        if EMBEDDING not in example.features.feature:
            raise EmbeddingsFileError(f"{file}: records have no {EMBEDDING!r} feature")
        dim = len(example.features.feature[EMBEDDING].float_list.value)
        spec = {
            PATH: tf.io.FixedLenFeature([], tf.string),
            FACE_INDEX: tf.io.FixedLenFeature([], tf.int64),
            BOX: tf.io.FixedLenFeature([BOX_SIZE], tf.float32),
            LANDMARKS: tf.io.FixedLenFeature([LANDMARKS_SIZE], tf.float32),
            SCORE: tf.io.FixedLenFeature([], tf.float32),
            EMBEDDING: tf.io.FixedLenFeature([dim], tf.float32),
            MODEL: tf.io.FixedLenFeature([], tf.string),
        }
        columns: dict[str, list[np.ndarray]] = {k: [] for k in FEATURES}
        for batch in raw.batch(4096):
            parsed = tf.io.parse_example(batch, spec)
            for k in FEATURES:
                columns[k].append(parsed[k].numpy())
    except tf.errors.OpError as err:
        message = " ".join(str(err.message).split())
        raise EmbeddingsFileError(f"{file}: not a readable embedding TFRecord ({message})") from err
    except Exception as err:  # protobuf DecodeError: the first record is not an Example
        if isinstance(err, EmbeddingsFileError):
            raise
        raise EmbeddingsFileError(f"{file}: not a readable embedding TFRecord ({err})") from err
    merged = {k: np.concatenate(v) for k, v in columns.items()}
    return _Part(
        file,
        [p.decode("utf-8") for p in merged[PATH]],
        merged[FACE_INDEX].astype(np.int64),
        merged[EMBEDDING].astype(np.float32),
        {m.decode("utf-8") for m in merged[MODEL]},
        merged[BOX].astype(np.float32),
        merged[LANDMARKS].astype(np.float32),
        merged[SCORE].astype(np.float32),
    )


def _list_column(table: Any, name: str, file: str, size: int | None = None) -> np.ndarray:
    """A list<float> column as float32 [N, size] (every row must have the same length)."""
    import pyarrow as pa

    column = table.column(name).combine_chunks()
    if not pa.types.is_list(column.type) and not pa.types.is_fixed_size_list(column.type):
        raise EmbeddingsFileError(f"{file}: column {name!r} is {column.type}, not a list")
    if column.null_count:
        raise EmbeddingsFileError(f"{file}: column {name!r} has empty (null) rows")
    lengths = np.asarray(column.value_lengths()) if len(column) else np.zeros(0, int)
    width = size if size is not None else (int(lengths[0]) if len(lengths) else 0)
    if len(lengths) and (lengths != width).any():
        bad = int(np.flatnonzero(lengths != width)[0])
        raise EmbeddingsFileError(
            f"{file}: row {bad} of column {name!r} has {lengths[bad]} values, expected {width}"
        )
    values = np.asarray(column.flatten(), dtype=np.float32)
    return values.reshape(len(column), width)


def _read_parquet(file: str) -> _Part:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - pyarrow ships with [beam]
        raise EmbeddingsFileError(
            f"{file}: reading Parquet needs pyarrow (pip install 'facenet-tf[beam]')"
        ) from err
    try:
        with _open(file) as f:
            table = pq.read_table(io.BytesIO(f.read()))
    except EmbeddingsFileError:
        raise
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise EmbeddingsFileError(f"{file}: not a readable Parquet file ({err})") from err
    missing = [c for c in FEATURES if c not in table.column_names]
    if missing:
        raise EmbeddingsFileError(f"{file}: Parquet file lacks the columns {missing}")
    try:
        paths = [str(p) for p in table.column(PATH).to_pylist()]
        face_index = np.asarray(table.column(FACE_INDEX).to_numpy(), np.int64)
        scores = np.asarray(table.column(SCORE).to_numpy(), np.float32)
        models = {str(m) for m in table.column(MODEL).to_pylist()}
    except Exception as err:
        raise EmbeddingsFileError(f"{file}: malformed columns ({err})") from err
    return _Part(
        file,
        paths,
        face_index,
        _list_column(table, EMBEDDING, file),
        models,
        _list_column(table, BOX, file, BOX_SIZE),
        _list_column(table, LANDMARKS, file, LANDMARKS_SIZE),
        scores,
    )


def _rows_part(file: str, header: list[str], rows: list[list[Any]]) -> _Part:
    """``facenet-tf embed`` rows: path, e0 .. e{D-1}."""
    dim = len(header) - 1
    if not header or header[0] != PATH or header[1:] != [f"e{i}" for i in range(dim)]:
        shown = ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")
        raise EmbeddingsFileError(
            f"{file}: not a facenet-tf embed output (columns {shown or 'none'}; expected "
            "path, e0, e1, ...)"
        )
    values = np.zeros((len(rows), dim), np.float32)
    for i, row in enumerate(rows):
        if len(row) != dim + 1:
            raise EmbeddingsFileError(
                f"{file}: row {i + 1} has {len(row)} fields, expected {dim + 1}"
            )
        try:
            values[i] = [float(v) for v in row[1:]]
        except (TypeError, ValueError) as err:
            raise EmbeddingsFileError(f"{file}: row {i + 1}: {err}") from err
    paths = [str(r[0]) for r in rows]
    return _Part(file, paths, np.zeros(len(rows), np.int64), values, {""})


def _read_rows(file: str) -> _Part:
    try:
        with _open(file, "r") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise EmbeddingsFileError(f"{file}: not a text file ({err})") from err
    if file.lower().endswith(".csv"):
        table = list(csv.reader(io.StringIO(text)))
        if not table:
            raise EmbeddingsFileError(f"{file}: empty file (no header)")
        return _rows_part(file, table[0], table[1:])
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise EmbeddingsFileError(f"{file}: not valid JSON ({err})") from err
    if not isinstance(items, list) or not all(isinstance(o, dict) for o in items):
        raise EmbeddingsFileError(f"{file}: expected a JSON list of objects (facenet-tf embed)")
    if not items:
        return _empty_part(file, models={""})
    header = list(items[0])
    for i, o in enumerate(items):
        if list(o) != header:
            raise EmbeddingsFileError(f"{file}: object {i} has other keys than object 0")
    return _rows_part(file, header, [list(o.values()) for o in items])


def _read_npy(file: str) -> _Part:
    names_file = file[: -len(NPY_SUFFIX)] + ".paths.txt"
    try:
        with _open(file) as f:
            values = np.load(io.BytesIO(f.read()), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise EmbeddingsFileError(f"{file}: not a readable .npy array ({err})") from err
    try:
        with _open(names_file, "r") as f:
            paths = f.read().splitlines()
    except (OSError, FileNotFoundError) as err:
        raise EmbeddingsFileError(
            f"{file}: its paths file {names_file} cannot be read ({err})"
        ) from err
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.floating):
        shape = f"{values.dtype} {values.shape}"
        raise EmbeddingsFileError(f"{file}: expected a float [N, D] array, got {shape}")
    if len(paths) != len(values):
        raise EmbeddingsFileError(
            f"{file}: {len(values)} rows but {len(paths)} paths in {names_file}"
        )
    return _Part(file, paths, np.zeros(len(paths), np.int64), values.astype(np.float32), {""})


def _empty_part(file: str, models: set[str] | None = None) -> _Part:
    return _Part(file, [], np.zeros(0, np.int64), np.zeros((0, 0), np.float32), models or set())


_READERS = {
    "tfrecord": _read_tfrecord,
    "parquet": _read_parquet,
    "rows": _read_rows,
    "npy": _read_npy,
}


# --- merging ---------------------------------------------------------------------------


def _resolve_model(parts: list[_Part], model: str | None) -> str:
    named = {}
    for part in parts:
        for m in part.models:
            if m:
                named.setdefault(m, part.file)
    if model is not None:
        wrong = {m: f for m, f in named.items() if m != model}
        if wrong:  # harmonic models' vectors read as their reference's (loads the registry)
            from facenet_tf.models.spec import shared_space

            wrong = {m: f for m, f in wrong.items() if not shared_space(m, model)}
        if wrong:
            m, f = next(iter(wrong.items()))
            raise EmbeddingsFileError(f"{f}: embeddings of model {m!r}, expected {model!r}")
        return model
    if len(named) > 1:
        listed = "; ".join(f"{f}: {m!r}" for m, f in named.items())
        raise EmbeddingsFileError(
            f"embeddings of different models cannot be mixed ({listed}); read each model's "
            "files separately"
        )
    unnamed = [p.file for p in parts if "" in p.models]
    if named and unnamed:
        m, f = next(iter(named.items()))
        raise EmbeddingsFileError(
            f"{unnamed[0]} records no model name and {f} holds model {m!r}: pass "
            f"model={m!r} if they are the same model"
        )
    return next(iter(named), "")


def read_embeddings(
    pattern: str | os.PathLike | Sequence[str | os.PathLike], *, model: str | None = None
) -> EmbeddingRecords:
    """Reads face embeddings written by ``facenet-tf bulk-embed`` or ``facenet-tf embed``.

    Args:
        pattern: a file, a glob, a bulk-embed ``--output_prefix``, or a list of them
            (local paths or any ``tf.io.gfile`` URL such as ``gs://``).
        model: the model the embeddings must come from; files that record a model must
            match it and files that record none (``facenet-tf embed`` output) are taken
            to be it. None: the files' own model, which must be the same for all.

    Returns:
        ``EmbeddingRecords`` sorted by (path, face_index). ``boxes``/``landmarks``/
        ``scores`` are None unless every file has them (TFRecord and Parquet do).

    Raises:
        EmbeddingsFileError: no file matches, a file is damaged or of an unknown kind
            (named), the files mix models or embedding sizes, non-finite values, or a
            (path, face_index) appears twice.
    """
    parts = [_READERS[_kind(f)](f) for f in expand_patterns(pattern)]
    resolved = _resolve_model(parts, model)
    dims = {p.embeddings.shape[1]: p.file for p in parts if p.embeddings.shape[1]}
    if len(dims) > 1:
        listed = "; ".join(f"{f}: D={d}" for d, f in dims.items())
        raise EmbeddingsFileError(f"embeddings of different sizes cannot be mixed ({listed})")
    dim = next(iter(dims), 0)
    for p in parts:
        bad = ~np.isfinite(p.embeddings).all(axis=1)
        if bad.any():
            raise EmbeddingsFileError(f"{p.file}: non-finite embedding for {p.paths[bad.argmax()]}")
    full = [p for p in parts if len(p.paths)]
    paths = [x for p in full for x in p.paths]
    face_index = np.concatenate([p.face_index for p in full]) if full else np.zeros(0, np.int64)
    embeddings = (
        np.concatenate([p.embeddings for p in full]) if full else np.zeros((0, dim), np.float32)
    )
    order = sorted(range(len(paths)), key=lambda i: (paths[i], int(face_index[i])))
    owners = [p.file for p in full for _ in p.paths]
    for a, b in zip(order, order[1:], strict=False):
        if paths[a] == paths[b] and face_index[a] == face_index[b]:
            raise EmbeddingsFileError(
                f"face {face_index[a]} of {paths[a]} appears twice ({owners[a]}, {owners[b]}); "
                "read one run's files at a time"
            )
    idx = np.asarray(order, np.int64)

    def extra(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in full]
        if not full or any(a is None for a in arrays):
            return None
        return np.concatenate(arrays)[idx]

    return EmbeddingRecords(
        paths=[paths[i] for i in order],
        face_index=face_index[idx].astype(np.int64),
        embeddings=embeddings[idx].astype(np.float32),
        model=resolved,
        boxes=extra("boxes"),
        landmarks=extra("landmarks"),
        scores=extra("scores"),
    )


# --- writing (the bulk-embed pipeline's records) ----------------------------------------


def record_example(record: dict[str, Any]) -> bytes:
    """One face record (a dict with the keys of ``FEATURES``) as a serialised
    ``tf.train.Example``."""
    import tensorflow as tf

    def floats(values) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    def text(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    feature = {
        PATH: text(record[PATH]),
        FACE_INDEX: tf.train.Feature(int64_list=tf.train.Int64List(value=[record[FACE_INDEX]])),
        BOX: floats(record[BOX]),
        LANDMARKS: floats(record[LANDMARKS]),
        SCORE: floats([record[SCORE]]),
        EMBEDDING: floats(record[EMBEDDING]),
        MODEL: text(record[MODEL]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parquet_schema():
    """The ``pyarrow.Schema`` of face records in Parquet (list columns of float32)."""
    import pyarrow as pa

    return pa.schema(
        [
            (PATH, pa.string()),
            (FACE_INDEX, pa.int64()),
            (BOX, pa.list_(pa.float32())),
            (LANDMARKS, pa.list_(pa.float32())),
            (SCORE, pa.float32()),
            (EMBEDDING, pa.list_(pa.float32())),
            (MODEL, pa.string()),
        ]
    )
