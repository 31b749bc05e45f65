"""The facenet-tf console script: dispatch, embed/cluster on folders, failure manifests."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet_tf import cli, cli_lib
from facenet_tf.errors import InvalidInputError
from tests.test_inference import _reference


def test_help_and_unknown_command(capsys):
    assert cli.main([]) == 0
    assert "embed" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2


def test_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.SUBCOMMANDS)


@pytest.mark.parametrize("name", ["export-savedmodel", "export-tflite"])
def test_export_subcommands_are_installed_modules(name):
    main = cli.SUBCOMMANDS[name][0]()
    assert main.__module__ == "facenet_tf.commands." + name.replace("-", "_")


def test_export_savedmodel_writes_the_signatures(model_path, tmp_path, capsys):
    out = tmp_path / "sm"
    assert cli.main(["export-savedmodel", f"--model={model_path}", f"--output={out}"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "saved_model.pb").is_file()
    assert (out / "assets.extra" / "embedding_contract.json").is_file()


def test_embed_folder_writes_csv_and_failure_manifest(folder, model_path, tmp_path):
    root, images = folder
    out = tmp_path / "emb.csv"
    code = cli.main(
        ["embed", f"--input={root}", f"--output={out}", f"--model={model_path}", "--aligned"]
    )
    assert code == 0
    rows = list(csv.DictReader(open(out)))
    # Sorted recursive walk: id0/0.png, id0/2.png, id1/1.png; the broken file is listed apart.
    assert [r["path"].split("faces/")[1] for r in rows] == ["id0/0.png", "id0/2.png", "id1/1.png"]
    got = np.array([[float(r[f"e{i}"]) for i in range(8)] for r in rows])
    np.testing.assert_allclose(got, _reference(images[[0, 2, 1]].astype(np.float32)), atol=1e-5)
    failures = list(csv.DictReader(open(str(out) + ".failures.csv")))
    assert len(failures) == 1 and failures[0]["path"].endswith("broken.jpg")


def test_embed_npy_output(folder, model_path, tmp_path):
    root, _ = folder
    out = tmp_path / "emb.npy"
    assert (
        cli.main(
            ["embed", f"--input={root}", f"--output={out}", f"--model={model_path}", "--aligned"]
        )
        == 0
    )
    assert np.load(out).shape == (3, 8)
    assert len(out.with_suffix(".paths.txt").read_text().split()) == 3


def test_missing_required_flag_is_a_usage_error():
    # A fresh process: absl keeps flag values parsed by earlier tests in this one.
    proc = subprocess.run(
        [sys.executable, "-m", "facenet_tf.cli", "embed"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "--input" in proc.stderr


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "faces"


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder where nothing can be written: a path under a regular file (which stops root
    too), or, for other users, also a read-only folder."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    (tmp_path / "file.txt").write_text("a file, not a folder")
    return tmp_path / "file.txt" / "out"


def _embed(*args: str) -> int:
    return cli.main(["embed", *args])


def test_photos_without_a_face_are_failures_not_rows(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    real = sorted(EXAMPLES.glob("*/*.jpg"))[:2]
    for p in real:
        shutil.copy(p, photos / p.name)
    gradient = np.tile(np.linspace(0, 255, 200, dtype=np.uint8)[None, :, None], (150, 1, 3))
    cv2.imwrite(str(photos / "gradient.png"), gradient)
    cv2.imwrite(str(photos / "one_pixel.png"), np.full((1, 1, 3), 128, np.uint8))
    out = tmp_path / "emb.csv"
    code = _embed(f"--input={photos}", f"--output={out}", "--model=dlib_resnet_v1", "--noflip")
    assert code == 0
    rows = list(csv.DictReader(open(out)))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(p.name for p in real)
    assert all(np.isfinite(float(r["e0"])) for r in rows)
    failures = list(csv.DictReader(open(cli_lib.failures_path(out))))
    assert sorted((Path(f["path"]).name, f["reason"]) for f in failures) == [
        ("gradient.png", "no face found"),
        ("one_pixel.png", "no face found"),
    ]
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("embedded 2 of 4 images")
    assert "; 2 failed (2 no face) -> " in summary


def test_broken_symlink_is_a_failure_and_clean_rerun_removes_the_manifest(
    folder, model_path, tmp_path, capsys
):
    root, _ = folder
    (root / "id0" / "broken.jpg").unlink()
    (root / "id1" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    out = tmp_path / "emb.json"
    args = [f"--input={root}", f"--output={out}", f"--model={model_path}", "--aligned"]
    assert _embed(*args) == 0
    assert len(json.loads(out.read_text())) == 3
    (failure,) = list(csv.DictReader(open(cli_lib.failures_path(out))))
    assert failure["path"].endswith("gone.png") and "broken symbolic link" in failure["reason"]
    assert "; 1 failed (1 unreadable) -> " in capsys.readouterr().out
    (root / "id1" / "gone.png").unlink()
    assert _embed(*args) == 0
    assert not cli_lib.failures_path(out).exists()
    assert "failed" not in capsys.readouterr().out


def test_identify_reports_and_skips_an_empty_identity_folder(folder, model_path, tmp_path, capsys):
    root, _ = folder
    (root / "nobody").mkdir()
    (root / "nobody" / "notes.txt").write_text("no images here")
    out = tmp_path / "ids.csv"
    code = cli.main(
        ["identify", f"--query={root / 'id1'}", f"--gallery_dir={root}", f"--output={out}",
         f"--model={model_path}", "--aligned"]
    )  # fmt: skip
    assert code == 0
    assert [r["label"] for r in csv.DictReader(open(out))] == ["id1"]
    reasons = {
        Path(f["path"]).name: f["reason"] for f in csv.DictReader(open(str(out) + ".failures.csv"))
    }
    assert reasons["nobody"] == "identity folder has no images"
    assert "'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, output",
    [("embed", "e.txt"), ("embed", "e"), ("cluster", "c.npy"), ("identify", "i.yaml")],
)
def test_unknown_output_suffix_is_refused_before_any_work(
    command, output, folder, tmp_path, capsys
):
    root, _ = folder
    inputs = (
        [f"--query={root}", f"--gallery_dir={root}"]
        if command == "identify"
        else [f"--input={root}"]
    )
    # A model that does not exist: the output check must come first.
    args = [command, *inputs, f"--output={tmp_path / output}", "--model=/no/such/model.keras"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --output") and "unknown suffix" in err and err.count("\n") == 1
    assert not (tmp_path / output).exists()


@pytest.mark.parametrize("command", ["embed", "cluster", "identify"])
def test_unwritable_output_is_refused_before_any_work(command, folder, tmp_path, capsys):
    root, _ = folder
    inputs = (
        [f"--query={root}", f"--gallery_dir={root}"]
        if command == "identify"
        else [f"--input={root}"]
    )
    out = _unwritable_folder(tmp_path) / "result.csv"
    assert cli.main([command, *inputs, f"--output={out}", "--model=/no/such/model.keras"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --output {out}") and err.count("\n") == 1


def test_export_savedmodel_to_an_unwritable_place_is_a_user_error(model_path, tmp_path, capsys):
    out = _unwritable_folder(tmp_path) / "sm"
    assert cli.main(["export-savedmodel", f"--model={model_path}", f"--output={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --output {out}") and "PermissionDenied" not in err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["embed", "--input=x", "--batch_size=0"], "--batch_size"),
        (["embed", "--input=x", "--face=biggest"], "--face"),
        (["embed", "--input=x", "--no_such_flag"], "no_such_flag"),
        (["embed", "--input=/no/such/folder", "--output=/tmp/x.csv"], "/no/such/folder"),
        (["embed", "--input=x", "stray"], "stray"),
        (["cluster", "--input=x", "--n_clusters=0"], "--n_clusters"),
        (["embed", "--input=x", "--verbose=maybe"], "--verbose"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(args, expected, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err


def test_write_rows_refuses_unknown_suffixes(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown suffix"):
        cli_lib.write_rows(tmp_path / "rows.txt", ["a"], [[1]])
    assert not list(tmp_path.iterdir())


def test_failure_summary_counts_each_kind():
    failures = [
        cli_lib.Failure("a.png", cli_lib.NO_FACE, "no face"),
        cli_lib.Failure("b.jpg", "b.jpg: truncated JPEG"),
    ]
    assert (
        cli_lib.failure_summary(failures, Path("f.csv"))
        == "; 2 failed (1 no face, 1 unreadable) -> f.csv"
    )
    assert cli_lib.failure_summary([], None) == ""


def test_command_help_lists_its_own_flags(capsys):
    assert cli.main(["embed", "--help"]) == 0
    out = capsys.readouterr().out
    for text in (
        "--input:",
        "--output:",
        "--model:",
        "--[no]aligned:",
        "--[no]verbose:",
        ".paths.txt",
        ".failures.csv",
    ):
        assert text in out


def test_export_tflite_flag_choices_match_the_exporter():
    from facenet_tf.commands import export_tflite
    from facenet_tf.export import tflite

    assert export_tflite.QUANTIZATIONS == tflite.QUANTIZATIONS
    assert export_tflite.INPUT_TYPES == tflite.INPUT_TYPES
    assert export_tflite.CALIBRATION_PERCENTILE == tflite.calibration.DEFAULT_PERCENTILE
