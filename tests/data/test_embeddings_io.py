"""read_embeddings on hand-made golden files of every format, and on damaged ones.

The files are written here by hand (TFRecordWriter with hand-built Examples, pyarrow
tables, literal CSV/JSON text), not by the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.data import read_embeddings
from facenet_tf.data.embeddings_io import EmbeddingRecords
from facenet_tf.errors import EmbeddingsFileError, InvalidInputError

# Two photos, three faces; values chosen to be exact in float32.
GOLDEN = [
    # path, face_index, box, landmarks, score, embedding
    ("b.jpg", 0, [1.0, 2.0, 30.0, 40.0], [float(i) for i in range(10)], 0.5, [0.6, 0.8, 0.0]),
    ("a.jpg", 1, [5.0, 6.0, 7.0, 8.0], [float(i) / 4 for i in range(10)], 0.75, [0.0, 0.0, 1.0]),
    ("a.jpg", 0, [0.5, 0.25, 9.0, 9.5], [1.0] * 10, 1.0, [1.0, 0.0, 0.0]),
]
MODEL = "dlib_resnet_v1"


def _example(path, face, box, landmarks, score, emb, model=MODEL, drop=()) -> bytes:
    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    feature = {
        "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode()])),
        "face_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[face])),
        "box": floats(box),
        "landmarks": floats(landmarks),
        "score": floats([score]),
        "embedding": floats(emb),
        "model": tf.train.Feature(bytes_list=tf.train.BytesList(value=[model.encode()])),
    }
    for key in drop:
        del feature[key]
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _tfrecord(path, rows, **kw):
    with tf.io.TFRecordWriter(str(path)) as w:
        for row in rows:
            w.write(_example(*row, **kw))
    return path


def _parquet(path, rows, model=MODEL):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "path": pa.array(cols[0], pa.string()),
            "face_index": pa.array(cols[1], pa.int64()),
            "box": pa.array(cols[2], pa.list_(pa.float32())),
            "landmarks": pa.array(cols[3], pa.list_(pa.float32())),
            "score": pa.array(cols[4], pa.float32()),
            "embedding": pa.array(cols[5], pa.list_(pa.float32())),
            "model": pa.array([model] * len(rows), pa.string()),
        }
    )
    pq.write_table(table, str(path))
    return path


def _check_golden(rec: EmbeddingRecords, extras: bool = True) -> None:
    # Sorted by (path, face_index): a.jpg/0, a.jpg/1, b.jpg/0.
    assert rec.paths == ["a.jpg", "a.jpg", "b.jpg"]
    np.testing.assert_array_equal(rec.face_index, [0, 1, 0])
    assert rec.face_index.dtype == np.int64
    assert rec.embeddings.dtype == np.float32
    np.testing.assert_array_equal(
        rec.embeddings, np.array([[1, 0, 0], [0, 0, 1], [0.6, 0.8, 0]], np.float32)
    )
    assert rec.dim == 3 and len(rec) == 3
    if extras:
        assert rec.model == MODEL
        np.testing.assert_array_equal(rec.boxes, [GOLDEN[2][2], GOLDEN[1][2], GOLDEN[0][2]])
        np.testing.assert_array_equal(rec.landmarks[1], np.arange(10) / 4)
        np.testing.assert_array_equal(rec.scores, [1.0, 0.75, 0.5])


def test_tfrecord_golden_sharded_and_by_prefix(tmp_path):
    _tfrecord(tmp_path / "run-00000-of-00002.tfrecord", GOLDEN[:1])
    _tfrecord(tmp_path / "run-00001-of-00002.tfrecord", GOLDEN[1:])
    (tmp_path / "run-failures-00000-of-00001.jsonl").write_text('{"path": "x", "reason": "y"}\n')
    _check_golden(read_embeddings(str(tmp_path / "run-*.tfrecord")))
    _check_golden(read_embeddings(str(tmp_path / "run")))  # the --output_prefix
    # A list naming a shard twice reads it once.
    files = [str(tmp_path / "run-00000-of-00002.tfrecord")] * 2
    files.append(str(tmp_path / "run-00001-of-00002.tfrecord"))
    _check_golden(read_embeddings(files))


@pytest.mark.parametrize("fmt", ["tfrecord", "parquet"])
def test_prefix_reads_only_its_own_shards(tmp_path, fmt):
    # Runs "run" and "run-2" in one folder: the prefix "run" must not take run-2's shards
    # (nothing of another run merged in silently).
    other = [("c.jpg", 0, [0.0] * 4, [0.0] * 10, 1.0, [0.0, 1.0, 0.0])]
    if fmt == "tfrecord":
        _tfrecord(tmp_path / "run-00000-of-00001.tfrecord", GOLDEN)
        _tfrecord(tmp_path / "run-2-00000-of-00001.tfrecord", other)
    else:
        _parquet(tmp_path / "run-00000-of-00001.parquet", GOLDEN)
        _parquet(tmp_path / "run-2-00000-of-00001.parquet", other)
    _check_golden(read_embeddings(str(tmp_path / "run")))
    assert read_embeddings(str(tmp_path / "run-2")).paths == ["c.jpg"]


def test_gzip_tfrecord(tmp_path):
    path = tmp_path / "x.tfrecord.gz"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as w:
        for row in GOLDEN:
            w.write(_example(*row))
    _check_golden(read_embeddings(str(path)))


def test_parquet_golden(tmp_path):
    _check_golden(read_embeddings(_parquet(tmp_path / "run-00000-of-00001.parquet", GOLDEN)))
    _check_golden(read_embeddings(str(tmp_path / "run")))


def test_embed_csv_and_json_golden(tmp_path):
    # The exact format of facenet-tf embed --output=X.csv / .json.
    csv = tmp_path / "e.csv"
    csv.write_text("path,e0,e1,e2\nb.jpg,0.6,0.8,0.0\na.jpg,1.0,0.0,0.0\n")
    rec = read_embeddings(csv)
    assert rec.paths == ["a.jpg", "b.jpg"] and rec.model == ""
    np.testing.assert_array_equal(rec.face_index, [0, 0])
    np.testing.assert_allclose(rec.embeddings, [[1, 0, 0], [0.6, 0.8, 0]])
    assert rec.boxes is None and rec.landmarks is None and rec.scores is None
    js = tmp_path / "e.json"
    js.write_text(json.dumps([{"path": "b.jpg", "e0": 0.6, "e1": 0.8, "e2": 0.0}]))
    rec = read_embeddings(str(js), model=MODEL)
    assert rec.paths == ["b.jpg"] and rec.model == MODEL


def test_embed_csv_from_the_writer_the_command_uses(tmp_path):
    from facenet_tf import cli_lib

    out = tmp_path / "w.json"
    cli_lib.write_rows(out, ["path", "e0", "e1"], [["p.png", 0.25, -0.5]])
    rec = read_embeddings(out)
    assert rec.paths == ["p.png"]
    np.testing.assert_array_equal(rec.embeddings, [[0.25, -0.5]])


def test_npy_with_paths(tmp_path):
    np.save(tmp_path / "e.npy", np.array([[0.0, 1.0], [1.0, 0.0]], np.float32))
    (tmp_path / "e.paths.txt").write_text("z.jpg\ny.jpg\n")
    rec = read_embeddings(tmp_path / "e.npy")
    assert rec.paths == ["y.jpg", "z.jpg"]
    np.testing.assert_array_equal(rec.embeddings, [[1, 0], [0, 1]])


def test_empty_files(tmp_path):
    _tfrecord(tmp_path / "e.tfrecord", [])
    rec = read_embeddings(tmp_path / "e.tfrecord")
    assert len(rec) == 0 and rec.embeddings.shape[0] == 0
    (tmp_path / "h.csv").write_text("path,e0,e1\n")
    assert read_embeddings(tmp_path / "h.csv").embeddings.shape == (0, 2)


def test_error_is_typed():
    assert issubclass(EmbeddingsFileError, InvalidInputError)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("junk.tfrecord", b"this is not a tfrecord at all", "junk.tfrecord"),
        ("junk.parquet", b"PAR1 nope", "junk.parquet"),
        ("bad.csv", b"name,x\na,1\n", "not a facenet-tf embed output"),
        ("short.csv", b"path,e0,e1\na,1\n", "row 1 has 2 fields"),
        ("text.csv", b"path,e0\na,abc\n", "row 1"),
        ("bad.json", b"{not json", "not valid JSON"),
        ("obj.json", b'{"path": "a"}', "JSON list"),
        ("o.failures.csv", b"path,reason\na,no face found\n", "failures manifest"),
        ("run-failures-00000-of-00001.jsonl", b"{}\n", "failures manifest"),
        ("e.txt", b"path,e0\n", "unknown embedding file type"),
        ("nan.csv", b"path,e0\na,nan\n", "non-finite"),
        ("lone.npy", None, "paths file"),
    ],
)
def test_damaged_or_foreign_files_name_the_file(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((1, 2), np.float32))
    else:
        path.write_bytes(content)
    with pytest.raises(EmbeddingsFileError, match=needle) as err:
        read_embeddings(str(path))
    assert name in str(err.value) or needle in str(err.value)


def test_truncated_tfrecord_names_the_file(tmp_path):
    path = _tfrecord(tmp_path / "t.tfrecord", GOLDEN)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])
    with pytest.raises(EmbeddingsFileError, match="t.tfrecord"):
        read_embeddings(path)


def test_tfrecord_missing_feature_or_wrong_sizes(tmp_path):
    path = _tfrecord(tmp_path / "m.tfrecord", GOLDEN, drop=("box",))
    with pytest.raises(EmbeddingsFileError, match="m.tfrecord"):
        read_embeddings(path)
    rows = [GOLDEN[0], ("c.jpg", 0, *GOLDEN[0][2:5], [1.0, 0.0])]  # D=3 then D=2
    with pytest.raises(EmbeddingsFileError, match="d.tfrecord"):
        read_embeddings(_tfrecord(tmp_path / "d.tfrecord", rows))


def test_parquet_ragged_embeddings(tmp_path):
    rows = [GOLDEN[0], ("c.jpg", 0, *GOLDEN[0][2:5], [1.0, 0.0])]
    with pytest.raises(EmbeddingsFileError, match="row 1 of column 'embedding'"):
        read_embeddings(_parquet(tmp_path / "r.parquet", rows))


def test_mixed_models_refused(tmp_path):
    a = _tfrecord(tmp_path / "a.tfrecord", GOLDEN[:1])
    b = _tfrecord(tmp_path / "b.tfrecord", GOLDEN[1:], model="nn4")
    with pytest.raises(EmbeddingsFileError, match="different models"):
        read_embeddings([a, b])
    with pytest.raises(EmbeddingsFileError, match="expected 'nn4'"):
        read_embeddings(a, model="nn4")
    c = tmp_path / "c.csv"
    c.write_text("path,e0,e1,e2\nz.jpg,1,0,0\n")
    with pytest.raises(EmbeddingsFileError, match="records no model name"):
        read_embeddings([a, c])
    rec = read_embeddings([a, c], model=MODEL)
    assert rec.paths == ["b.jpg", "z.jpg"] and rec.boxes is None


def test_harmonic_model_read_as_its_reference(tmp_path):
    # mobilefacenet_harmonic_dlib's vectors live in dlib_resnet_v1's space (registry).
    a = _tfrecord(tmp_path / "a.tfrecord", GOLDEN[:1], model="mobilefacenet_harmonic_dlib")
    rec = read_embeddings(a, model=MODEL)
    assert rec.model == MODEL and rec.paths == ["b.jpg"]
    with pytest.raises(EmbeddingsFileError, match="expected 'nn4'"):
        read_embeddings(a, model="nn4")


def test_mixed_dims_refused(tmp_path):
    a = _tfrecord(tmp_path / "a.tfrecord", GOLDEN[:1])
    c = tmp_path / "c.csv"
    c.write_text("path,e0,e1\nz.jpg,1,0\n")
    with pytest.raises(EmbeddingsFileError, match="different sizes"):
        read_embeddings([a, c], model=MODEL)


def test_duplicate_face_refused(tmp_path):
    a = _tfrecord(tmp_path / "a.tfrecord", GOLDEN)
    b = _parquet(tmp_path / "b.parquet", GOLDEN[:1])
    with pytest.raises(EmbeddingsFileError, match="face 0 of b.jpg appears twice"):
        read_embeddings([a, b])


def test_no_match(tmp_path):
    with pytest.raises(EmbeddingsFileError, match="no embedding files match"):
        read_embeddings(str(tmp_path / "nothing-*.tfrecord"))
    with pytest.raises(EmbeddingsFileError, match="no embedding files given"):
        read_embeddings([])
