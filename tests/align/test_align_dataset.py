"""The align_dataset library and binary on a tiny tree with bad files."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facenet_tf.align import align_dataset_lib as lib
from facenet_tf.align.provenance import check_templates, read_template
from facenet_tf.errors import InvalidInputError, TemplateMismatchError
from facenet_tf.io.images import read_image
from facenet_tf.models.registry import default_model_name
from facenet_tf.models.spec import model_spec

REPO = Path(__file__).resolve().parents[2]
FACES = [
    "lfw/lfw-deepfunneled/AJ_Cook/AJ_Cook_0001.jpg",
    "lfw/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
    "lfw/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_0002.jpg",
]


@pytest.fixture
def tree(shared_data, tmp_path):
    """input/{identity}/{image} with 3 faces, an unreadable file, a face-less image, a
    too-small image and a non-image file that must be ignored."""
    import cv2

    root = tmp_path / "input"
    for rel in FACES:
        src = shared_data / rel
        if not src.is_file():
            pytest.skip(f"{src} missing")
        dst = root / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    (root / "Aaron_Peirsol" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    cv2.imwrite(str(root / "AJ_Cook" / "wall.png"), np.full((120, 140, 3), 128, np.uint8))
    cv2.imwrite(str(root / "AJ_Cook" / "icon.png"), np.zeros((9, 9, 3), np.uint8))
    (root / "AJ_Cook" / "notes.txt").write_text("ignored")
    return root


def _digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _manifest(path):
    with open(path, newline="") as f:
        return {row["input"]: row for row in csv.DictReader(f)}


def test_run_mirrors_tree_and_lists_failures(tree, tmp_path):
    before = _digest(tree)
    out = tmp_path / "aligned"
    config = lib.AlignDatasetConfig(tree, out, template="dlib_150", progress=False)
    summary = lib.run(config)
    assert summary.counts == {"aligned": 3, "unreadable": 1, "no_face": 1, "too_small": 1}
    rows = _manifest(out / "align_manifest.csv")
    assert rows["Aaron_Peirsol/broken.jpg"]["status"] == "unreadable"
    assert "broken.jpg" in rows["Aaron_Peirsol/broken.jpg"]["reason"]
    assert rows["AJ_Cook/wall.png"]["status"] == "no_face"
    assert rows["AJ_Cook/icon.png"]["status"] == "too_small"
    assert "AJ_Cook/notes.txt" not in rows
    crop = read_image(out / "AJ_Cook" / "AJ_Cook_0001.png")
    assert crop.shape == (150, 150, 3)
    assert rows["AJ_Cook/AJ_Cook_0001.jpg"]["output"] == "AJ_Cook/AJ_Cook_0001.png"
    assert not list(out.rglob(f"*{lib.TMP_SUFFIX}"))  # no temporaries left
    assert _digest(tree) == before  # inputs untouched

    # Re-run: finished outputs are skipped (and not rewritten); failures are retried.
    stamp = (out / "AJ_Cook" / "AJ_Cook_0001.png").stat().st_mtime_ns
    (out / "Aaron_Peirsol" / "Aaron_Peirsol_0002.png").unlink()  # as if interrupted
    (out / "Aaron_Peirsol" / f".x.png.123{lib.TMP_SUFFIX}").write_bytes(b"partial")
    again = lib.run(config)
    assert again.counts == {
        "skipped": 2, "aligned": 1, "unreadable": 1, "no_face": 1, "too_small": 1,
    }  # fmt: skip
    assert (out / "AJ_Cook" / "AJ_Cook_0001.png").stat().st_mtime_ns == stamp
    assert (out / "Aaron_Peirsol" / "Aaron_Peirsol_0002.png").is_file()
    assert not list(out.rglob(f"*{lib.TMP_SUFFIX}"))  # stale temporary removed
    assert _manifest(out / "align_manifest.csv")["AJ_Cook/AJ_Cook_0001.jpg"]["status"] == "skipped"
    assert _digest(tree) == before


def test_margin_mode_and_policy_all(tree, tmp_path):
    out = tmp_path / "tight"
    config = lib.AlignDatasetConfig(
        tree, out, template="margin", image_size=96, margin=16, policy="all",
        output_format="jpg", progress=False,
    )  # fmt: skip
    lib.run(config)
    crop = read_image(out / "AJ_Cook" / "AJ_Cook_0001_0.jpg")
    assert crop.shape == (96, 96, 3)


def test_config_refuses_to_write_into_inputs(tree, tmp_path):
    with pytest.raises(InvalidInputError, match="inside input_dir"):
        lib.AlignDatasetConfig(tree, tree / "out")
    with pytest.raises(InvalidInputError, match="inside input_dir"):
        lib.AlignDatasetConfig(tree, tmp_path / "o", manifest=tree / "m.csv")
    with pytest.raises(InvalidInputError, match="inside output_dir"):
        lib.AlignDatasetConfig(tree, tree.parent)
    with pytest.raises(InvalidInputError, match="not a directory"):
        lib.AlignDatasetConfig(tmp_path / "absent", tmp_path / "o")
    with pytest.raises(InvalidInputError, match="margin applies"):
        lib.AlignDatasetConfig(tree, tmp_path / "o", template="dlib_150", margin=3)


@pytest.mark.slow
def test_binary_with_two_workers(tree, tmp_path):
    out = tmp_path / "bin"
    cmd = [
        sys.executable, "-m", "facenet_tf.align.align_dataset", f"--input_dir={tree}",
        f"--output_dir={out}", "--template=facenet_160", "--num_workers=2", "--batch_size=2",
        "--noprogress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "aligned: 3" in proc.stdout
    assert read_image(out / "AJ_Cook" / "AJ_Cook_0001.png").shape == (160, 160, 3)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert "skipped: 3" in proc.stdout
    bad = subprocess.run(cmd[:3] + [f"--input_dir={tree}", f"--output_dir={tree}/x"],
                         capture_output=True, text=True, timeout=600, cwd=REPO)  # fmt: skip
    assert bad.returncode == 2 and "inside input_dir" in bad.stderr


@pytest.fixture
def examples_tree(tmp_path):
    """input/{identity}/{image} with two real photos from examples/faces."""
    root = tmp_path / "photos"
    for rel in ("Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg"):
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "examples" / "faces" / rel, dst)
    return root


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_crops_record_their_template(examples_tree, tmp_path, fmt):
    out = tmp_path / "aligned"
    config = lib.AlignDatasetConfig(
        examples_tree, out, template="facenet_160", output_format=fmt, progress=False
    )
    assert lib.run(config).counts == {"aligned": 2}
    crops = sorted(out.rglob(f"*.{fmt}"))
    assert len(crops) == 2
    assert [read_template(p) for p in crops] == ["facenet_160", "facenet_160"]
    assert all(read_image(p).shape == (160, 160, 3) for p in crops)  # still plain images
    rows = _manifest(out / "align_manifest.csv")
    assert {r["template"] for r in rows.values()} == {"facenet_160"}
    with pytest.raises(TemplateMismatchError, match="dlib_150") as info:
        check_templates(crops, "dlib_150")
    assert all(str(p) in str(info.value) for p in crops)
    assert check_templates(crops, "facenet_160") == []
    photos = sorted(examples_tree.rglob("*.jpg"))
    assert check_templates(photos, "dlib_150") == [str(p) for p in photos]  # unknown


def test_default_template_is_the_default_models(examples_tree, tmp_path):
    from absl import flags

    from facenet_tf.align import align_dataset

    expected = model_spec(default_model_name()).template
    assert expected == "dlib_150"
    flags.FLAGS(["align_dataset", f"--input_dir={examples_tree}", f"--output_dir={tmp_path / 'o'}"])
    try:
        config = align_dataset.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    assert config.template == expected
    config = dataclasses.replace(config, num_workers=1, progress=False)
    lib.run(config)
    crop = tmp_path / "o" / "Colin_Powell" / "Colin_Powell_0001.png"
    assert read_template(crop) == "dlib_150" and read_image(crop).shape == (150, 150, 3)
    assert lib.AlignDatasetConfig(examples_tree, tmp_path / "p", template="margin").template == (
        "margin"
    )  # an explicit template wins
    assert lib.AlignDatasetConfig(examples_tree, tmp_path / "q", model="dlib_resnet_v1").template


def test_rerun_with_another_template_does_not_skip(examples_tree, tmp_path):
    out = tmp_path / "aligned"
    lib.run(lib.AlignDatasetConfig(examples_tree, out, template="facenet_160", progress=False))
    again = lib.run(lib.AlignDatasetConfig(examples_tree, out, template="dlib_150", progress=False))
    assert again.counts == {"error": 2}
    row = _manifest(out / "align_manifest.csv")["Tony_Blair/Tony_Blair_0001.jpg"]
    assert "aligned with template 'facenet_160'" in row["reason"]
    assert row["template"] == "facenet_160"
    assert read_template(out / "Tony_Blair" / "Tony_Blair_0001.png") == "facenet_160"
