"""The facenet-tf console script: dispatch, embed/cluster on folders, failure manifests."""

from __future__ import annotations

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from facenet_tf import cli
from tests.test_inference import _images, _model, _reference


@pytest.fixture(autouse=True)
def _forget_command_flags():
    """Each subcommand module defines absl flags at import; drop them after each test so
    other test modules (which import binaries defining the same flag names) can run."""
    from absl import flags

    before_flags, before_modules = set(flags.FLAGS), set(sys.modules)
    yield
    for name in set(flags.FLAGS) - before_flags:
        delattr(flags.FLAGS, name)
    for module in set(sys.modules) - before_modules:
        if module.startswith("facenet_tf.commands."):
            del sys.modules[module]
            # ``from facenet_tf.commands import x`` reuses the package attribute: drop it too.
            parent, _, child = module.rpartition(".")
            if parent in sys.modules and hasattr(sys.modules[parent], child):
                delattr(sys.modules[parent], child)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    _model().save(path)
    return path


@pytest.fixture()
def folder(tmp_path):
    images = _images(3)
    root = tmp_path / "faces"
    for i, img in enumerate(images):
        (root / f"id{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"id{i % 2}" / f"{i}.png"), img[..., ::-1])
    (root / "id0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root, images


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
