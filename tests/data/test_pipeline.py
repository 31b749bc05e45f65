"""Folder-tree and TFRecord P x K datasets on a synthetic colour-coded face tree."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.data import (
    AugmentConfig,
    augment_op,
    folder_pk_dataset,
    make_tfrecords_lib,
    scan_folder_tree,
    schema,
    tfrecord_pk_dataset,
    to_keras,
)
from facenet_tf.errors import InvalidInputError
from tests.data.synthetic import DEFAULT_COUNTS, label_from_pixels, write_face_tree

SIZE = (16, 16)
PLAIN = augment_op(AugmentConfig(SIZE), training=False)
AUGMENTED = augment_op(AugmentConfig(SIZE, box=(0.05, 0.05, 0.95, 0.95)), training=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    paths = write_face_tree(root)
    (root / "id_00" / "notes.txt").write_text("not an image")
    return root, paths


@pytest.fixture(scope="module")
def shards(tree, tmp_path_factory):
    root, _ = tree
    out = tmp_path_factory.mktemp("shards")
    config = make_tfrecords_lib.MakeTFRecordsConfig((str(root),), str(out), num_shards=3)
    manifest = make_tfrecords_lib.run(config)
    return out, manifest


def _batches(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_scan_folder_tree_labels_and_merging(tree, tmp_path):
    root, paths = tree
    index = scan_folder_tree(root)
    assert index.class_names == tuple(f"id_{i:02d}" for i in range(len(DEFAULT_COUNTS)))
    assert index.counts().tolist() == list(DEFAULT_COUNTS)
    assert all(not p.endswith(".txt") for p in index.paths)
    # A second root with a same-named identity folder merges into that identity.
    other = tmp_path / "other"
    write_face_tree(other, counts=(2,), seed=1)
    merged = scan_folder_tree([root, other])
    assert merged.counts()[0] == DEFAULT_COUNTS[0] + 2
    with pytest.raises(InvalidInputError, match="no such folder"):
        scan_folder_tree(tmp_path / "missing")


def test_scan_folder_tree_lists_identity_folders_with_the_shared_lister(tmp_path, caplog):
    write_face_tree(tmp_path, counts=(2, 1))
    ident = tmp_path / "id_00"
    (ident / ".img_00.png").write_bytes(b"")  # hidden: skipped
    (ident / "extra.WEBP").write_bytes(b"")  # any case of a listed suffix counts
    (ident / "scan.tif").write_bytes(b"")  # tf.data cannot decode TIFF: left out, with a warning
    (ident / "nested").mkdir()
    (ident / "nested" / "deep.png").write_bytes(b"")  # {identity}/{image} only, not deeper
    (tmp_path / ".trash").mkdir()
    (tmp_path / ".trash" / "x.png").write_bytes(b"")  # hidden identity folder: skipped
    with caplog.at_level("WARNING"):
        index = scan_folder_tree(tmp_path)
    assert index.class_names == ("id_00", "id_01")
    names = [p.split("/")[-1] for p in index.paths]
    assert names == ["extra.WEBP", "img_00.png", "img_01.png", "img_00.png"]
    assert "scan.tif" in caplog.text


def test_folder_dataset_batches_load_the_right_identities(tree):
    root, _ = tree
    index = scan_folder_tree(root)
    ds = folder_pk_dataset(index, PLAIN, 4, 3, seed=1, num_steps=4)
    spec = ds.element_spec
    assert spec["image"].shape == (12, *SIZE, 3) and spec["label"].shape == (12,)
    batches = _batches(ds, 4)
    assert len(batches) == 4
    for b in batches:
        labels = b["label"].reshape(4, 3)
        assert (labels == labels[:, :1]).all() and len(set(labels[:, 0])) == 4
        assert 0 not in labels  # a single-image identity is never drawn (min 2)
        # Pixels say which identity's file was loaded: it must be the label's.
        assert [label_from_pixels(im) for im in b["image"]] == b["label"].tolist()


def test_folder_dataset_is_deterministic_and_resumable(tree):
    index = scan_folder_tree(tree[0])
    a = _batches(folder_pk_dataset(index, AUGMENTED, 4, 2, seed=3, num_steps=3), 3)
    b = _batches(folder_pk_dataset(index, AUGMENTED, 4, 2, seed=3, num_steps=3), 3)
    resumed = _batches(folder_pk_dataset(index, AUGMENTED, 4, 2, seed=3, start_step=2), 1)
    other = _batches(folder_pk_dataset(index, AUGMENTED, 4, 2, seed=4, num_steps=1), 1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["label"], y["label"])
    np.testing.assert_array_equal(resumed[0]["image"], a[2]["image"])
    assert not np.array_equal(other[0]["image"], a[0]["image"])
    assert a[0]["image"].min() >= 0 and a[0]["image"].max() <= 255


def _graph_ops(ds) -> set[str]:
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(ds._as_serialized_graph().numpy())
    names = {n.op for n in graph.node}
    for f in graph.library.function:
        names |= {n.op for n in f.node_def}
    return names


def test_pipelines_have_no_python_ops_and_static_shapes(tree, shards):
    # What a TPU host input pipeline needs, checked on the CPU.
    index = scan_folder_tree(tree[0])
    files = tf.io.gfile.glob(str(shards[0] / "*.tfrecord"))
    for ds in (
        folder_pk_dataset(index, AUGMENTED, 4, 2),
        tfrecord_pk_dataset(files, AUGMENTED, 4, 2),
    ):
        ops_used = _graph_ops(ds)
        assert (
            "ReadFile" in ops_used
            or "TFRecordDataset" in ops_used
            or "TFRecordDatasetV2" in ops_used
        )
        assert not {"PyFunc", "EagerPyFunc", "PyFuncStateless"} & ops_used
        for spec in ds.element_spec.values():
            assert spec.shape.is_fully_defined()


def test_make_tfrecords_round_trip_and_manifest(tree, tmp_path):
    root, paths = tree
    broken = root.parent / "broken_tree"
    write_face_tree(broken, counts=(2, 2))
    (broken / "id_01" / "img_99.png").write_bytes(b"\x89PNG truncated")
    out = tmp_path / "tfr"
    manifest = make_tfrecords_lib.run(
        make_tfrecords_lib.MakeTFRecordsConfig((str(broken),), str(out), num_shards=2)
    )
    assert manifest["num_identities"] == 2 and manifest["num_images"] == 4
    assert [f["path"].endswith("img_99.png") for f in manifest["failures"]] == [True]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    records = []
    for f in sorted(out.glob("*.tfrecord")):
        records += [schema.parse_identity(r) for r in tf.data.TFRecordDataset(str(f))]
    assert sorted(r["name"].numpy().decode() for r in records) == ["id_00", "id_01"]
    for r in records:
        name = r["name"].numpy().decode()
        files = sorted((broken / name).glob("img_0*.png"))
        assert int(r["count"]) == len(files) == 2
        assert [e for e in r["encoded"].numpy()] == [p.read_bytes() for p in files]
        assert [n.decode() for n in r["filename"].numpy()] == [p.name for p in files]
        assert int(r["label"]) == int(name[-2:])
    assert (out / schema.LABELS_FILE).read_text().splitlines() == ["0\tid_00", "1\tid_01"]
    assert not list(out.glob("*.tmp"))


def test_tfrecord_dataset_batches_and_resume(shards):
    out, manifest = shards
    assert manifest["num_images"] == sum(DEFAULT_COUNTS)
    files = [str(p) for p in sorted(out.glob("*.tfrecord"))]
    ds = tfrecord_pk_dataset(files, PLAIN, 3, 4, seed=2, shuffle_buffer=8)
    batches = _batches(ds, 4)
    for b in batches:
        labels = b["label"].reshape(3, 4)
        assert (labels == labels[:, :1]).all()
        assert 0 not in labels
        assert [label_from_pixels(im) for im in b["image"]] == b["label"].tolist()
    again = _batches(tfrecord_pk_dataset(files, PLAIN, 3, 4, seed=2, shuffle_buffer=8), 4)
    resumed = _batches(
        tfrecord_pk_dataset(files, PLAIN, 3, 4, seed=2, shuffle_buffer=8, start_step=3), 1
    )
    for x, y in zip(batches, again, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])
    np.testing.assert_array_equal(resumed[0]["image"], batches[3]["image"])


def test_to_keras_yields_image_label_tuples(tree):
    index = scan_folder_tree(tree[0])
    images, labels = next(iter(to_keras(folder_pk_dataset(index, PLAIN, 2, 2, num_steps=1))))
    assert images.shape == (4, *SIZE, 3) and labels.shape == (4,)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"input_dirs": ()}, "input_dirs"),
        ({"input_dirs": ("/nonexistent/faces",)}, "input_dirs"),
        ({"shard_size_mb": 0}, "shard_size_mb"),
        ({"num_shards": -1}, "num_shards"),
        ({"prefix": "a/b"}, "prefix"),
        ({"min_images_per_identity": 0}, "min_images_per_identity"),
    ],
)
def test_make_tfrecords_config_validation(tree, tmp_path, kwargs, field):
    args = {"input_dirs": (str(tree[0]),), "output_dir": str(tmp_path), **kwargs}
    with pytest.raises(InvalidInputError, match=field):
        make_tfrecords_lib.MakeTFRecordsConfig(**args)


def test_make_tfrecords_binary(tree, tmp_path):
    from absl import app, flags

    from facenet_tf.data import make_tfrecords

    argv = ["make_tfrecords", f"--input_dirs={tree[0]}", f"--output_dir={tmp_path}"]
    try:
        flags.FLAGS(argv + ["--num_shards=2"])
        make_tfrecords.main(argv[:1])
        assert len(list(tmp_path.glob("*.tfrecord"))) == 2
        flags.FLAGS.unparse_flags()
        flags.FLAGS(argv + ["--shard_size_mb=-1"])
        with pytest.raises(app.UsageError, match="shard_size_mb"):
            make_tfrecords.main(argv[:1])
    finally:
        flags.FLAGS.unparse_flags()
