"""The Beam bulk-embed pipeline (DirectRunner) against ``facenet_tf.embed`` computed
independently on the same photos: 40 real photos plus a corrupt JPEG, a text file and a
photo with no face."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import facenet_tf  # noqa: E402
from facenet_tf.data import read_embeddings  # noqa: E402
from facenet_tf.errors import InvalidInputError  # noqa: E402
from facenet_tf.face_pipeline import FacePipeline  # noqa: E402
from facenet_tf.pipelines import bulk_embed_lib  # noqa: E402

N_CELEBA, N_LFW = 30, 10
TOL = 1e-5
DIRECT = ["--runner=DirectRunner"]
BAD = {"corrupt.jpg": "unreadable", "notes.txt": "unreadable", "noface.png": "no face"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory, shared_data) -> tuple[Path, list[str]]:
    """A folder of 40 real photos (30 CelebA in-the-wild, 10 LFW) and three bad files."""
    import cv2

    root = tmp_path_factory.mktemp("archive")
    sources = sorted((shared_data / "celeba" / "wild").glob("*/*.jpg"))[:N_CELEBA]
    sources += sorted((shared_data / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))[:N_LFW]
    photos = []
    for i, src in enumerate(sources):
        dst = root / f"{i:02d}_{src.name}"
        shutil.copyfile(src, dst)
        photos.append(str(dst))
    data = Path(sources[0]).read_bytes()
    (root / "corrupt.jpg").write_bytes(data[: len(data) // 2])
    (root / "notes.txt").write_text("not a photo\n")
    y, x = np.mgrid[0:120, 0:160]
    cv2.imwrite(str(root / "noface.png"), np.stack([x, y, x + y], -1).astype(np.uint8))
    return root, photos


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    """The default model saved once as .keras (what bulk-embed's workers load)."""
    from facenet_tf.inference import load_model
    from facenet_tf.models.registry import default_model_name

    path = tmp_path_factory.mktemp("model") / "default.keras"
    load_model(default_model_name()).save(path)
    return str(path)


@pytest.fixture(scope="module")
def reference(archive):
    """facenet_tf.embed (face 0) and FacePipeline.embed_faces (every face) by path."""
    _, photos = archive
    one = dict(zip(photos, facenet_tf.embed(photos), strict=True))
    every = {
        (f.name, f.face_index): f for faces in FacePipeline().embed_faces(photos) for f in faces
    }
    return one, every


def _run(archive, model_file, prefix, args=DIRECT, **kw):
    root, _ = archive
    config = bulk_embed_lib.BulkEmbedConfig(
        input_patterns=(str(root / "*"),), output_prefix=str(prefix), model=model_file, **kw
    )
    counts = bulk_embed_lib.run(config, args)
    return counts, read_embeddings(str(prefix)), prefix


@pytest.fixture(scope="module")
def single(archive, model_file, tmp_path_factory):
    """(counters, records, prefix) of a single-process DirectRunner run, every face."""
    return _run(archive, model_file, tmp_path_factory.mktemp("single") / "run")


def _failures(prefix) -> dict[str, dict]:
    rows = []
    for f in sorted(Path(prefix).parent.glob(Path(prefix).name + "-failures-*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines() if line]
    return {Path(r["path"]).name: r for r in rows}


def test_records_equal_embed(archive, single, reference):
    _, photos = archive
    one, every = reference
    counts, rec, _ = single
    assert set(zip(rec.paths, rec.face_index.tolist(), strict=True)) == set(every)
    assert set(rec.paths) == set(photos)
    assert rec.model == facenet_tf.models.registry.default_model_name()
    for i, (path, k) in enumerate(zip(rec.paths, rec.face_index.tolist(), strict=True)):
        got = rec.embeddings[i]
        want = every[(path, k)]
        np.testing.assert_allclose(got, want.embedding, atol=TOL, err_msg=f"{path} face {k}")
        np.testing.assert_allclose(rec.boxes[i], want.box, atol=1e-3)
        np.testing.assert_allclose(rec.landmarks[i], np.ravel(want.landmarks), atol=1e-3)
        if k == 0:  # face 0 is the face facenet_tf.embed(path) picks
            np.testing.assert_allclose(got, one[path], atol=TOL, err_msg=path)
            assert float(got @ one[path]) >= 1 - TOL
    assert counts["faces"] == len(rec)
    assert counts["photos"] == len(photos) + len(BAD)


def test_bad_inputs_are_failures_with_reasons(single):
    counts, _, prefix = single
    failures = _failures(prefix)
    assert {n: f["kind"] for n, f in failures.items()} == BAD
    assert "truncated" in failures["corrupt.jpg"]["reason"]
    assert "not a recognised image" in failures["notes.txt"]["reason"]
    assert "no face" in failures["noface.png"]["reason"]
    assert counts["failures_unreadable"] == 2 and counts["failures_no_face"] == 1


def test_parquet_faces_one(archive, model_file, single, tmp_path):
    _, rec, _ = single
    counts, got, _ = _run(archive, model_file, tmp_path / "p", output_format="parquet", faces="one")
    assert sorted(p.name for p in tmp_path.glob("p-*.parquet"))
    zero = rec.face_index == 0
    assert got.paths == [p for p, z in zip(rec.paths, zero, strict=True) if z]
    np.testing.assert_array_equal(got.face_index, 0)
    np.testing.assert_allclose(got.embeddings, rec.embeddings[zero], atol=TOL)
    assert counts["faces"] == len(got)


@pytest.mark.multiprocess
def test_two_worker_processes_give_the_same_records(archive, model_file, single, tmp_path):
    _, rec, _ = single
    args = [*DIRECT, "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    _, got, _ = _run(archive, model_file, tmp_path / "mp", args)
    assert got.paths == rec.paths
    np.testing.assert_array_equal(got.face_index, rec.face_index)
    np.testing.assert_allclose(got.embeddings, rec.embeddings, atol=TOL)
    np.testing.assert_allclose(got.boxes, rec.boxes, atol=1e-4)
    assert {n: f["kind"] for n, f in _failures(tmp_path / "mp").items()} == BAD


def test_refuses_unknown_flags_and_empty_patterns(tmp_path):
    config = bulk_embed_lib.BulkEmbedConfig((str(tmp_path / "*.jpg"),), str(tmp_path / "o"))
    with pytest.raises(InvalidInputError, match="runnr"):
        bulk_embed_lib.run(config, ["--runnr=DirectRunner"])
    with pytest.raises(InvalidInputError, match="no files match"):
        bulk_embed_lib.run(config, DIRECT)
    with pytest.raises(InvalidInputError, match="--faces"):
        bulk_embed_lib.BulkEmbedConfig(("x",), "o", faces="some")


def test_beam_stays_out_of_the_package_and_help():
    code = (
        "import sys, facenet_tf; "
        "from facenet_tf import cli; rc = cli.main(['bulk-embed', '--help']); "
        "assert rc == 0; bad = [m for m in sys.modules if m.startswith(('apache_beam', "
        "'tensorflow'))]; assert not bad, bad[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_the_local_runner_is_beams_in_process_runner_never_prism():
    # Beam's DirectRunner first tries Prism, which downloads a binary at run time.
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from facenet_tf.pipelines.bulk_embed_lib import local_runner

    for args in ([], ["--runner=DirectRunner"], ["--runner=directrunner"]):
        assert isinstance(local_runner(PipelineOptions(args)), FnApiRunner), args
    for name in ("DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner"):
        assert local_runner(PipelineOptions([f"--runner={name}"])) is None


def test_a_photo_that_breaks_detection_fails_alone():
    # One photo whose detection raises must become its own failure record, not fail its
    # batch (and, after Beam's retries, the job).
    from types import SimpleNamespace

    from apache_beam.pvalue import TaggedOutput

    from facenet_tf.pipelines.stages import ERROR, FAILURES, DetectAndAlign

    good = np.zeros((40, 40, 3), np.uint8)
    bad = np.ones((40, 40, 3), np.uint8)
    face = SimpleNamespace(box=(1.0, 2.0, 3.0, 4.0), landmarks=np.zeros(10), score=0.9)

    def face_crops(images, max_faces):
        if any(img is bad for img in images):
            raise ValueError("broken photo")
        return [[(face, np.zeros((2, 2, 3), np.float32))] for _ in images]

    stage = DetectAndAlign("unused.keras", "center_weighted", None)
    stage.pipeline = SimpleNamespace(
        detector=SimpleNamespace(min_face_size=20), face_crops=face_crops
    )
    out = list(stage.process([("a.jpg", good), ("b.jpg", bad), ("c.jpg", good)]))
    failures = [o.value for o in out if isinstance(o, TaggedOutput) and o.tag == FAILURES]
    records = [o for o in out if not isinstance(o, TaggedOutput)]
    assert [f["path"] for f in failures] == ["b.jpg"]
    assert failures[0]["kind"] == ERROR and "broken photo" in failures[0]["reason"]
    assert [key.path for key, _ in records] == ["a.jpg", "c.jpg"]
