"""``facenet-tf gallery``: create, add (folders, a labels CSV, embedding files), remove,
search, identify and info on a tiny folder tree, in-process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from facenet_tf import cli
from facenet_tf.gallery import Gallery
from tests.test_inference import _reference


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_gallery_commands_on_a_folder_tree(tmp_path, folder, model_path, capsys):
    root, images = folder
    g, m = str(tmp_path / "g"), f"--model={model_path}"
    assert cli.main(["gallery", "create", f"--gallery={g}", m, "--index=flat"]) == 0
    added = tmp_path / "added.csv"
    args = ["gallery", "add", f"--gallery={g}", f"--input={root}", m, "--aligned"]
    assert cli.main([*args, f"--output={added}"]) == 0
    rows = _rows(added)
    assert [(r["label"], r["source"].rsplit("/", 1)[1]) for r in rows] == [
        ("id0", "0.png"), ("id0", "2.png"), ("id1", "1.png")
    ]  # fmt: skip
    failed = _rows(str(added) + ".failures.csv")
    assert [f["path"].rsplit("/", 1)[1] for f in failed] == ["broken.jpg"]
    gallery = Gallery.open(g, readonly=True)
    want = _reference(images.astype(np.float32))[[0, 2, 1]]
    np.testing.assert_allclose(gallery.vectors(gallery.ids), want, atol=1e-5)

    out = tmp_path / "search.json"
    query = str(root / "id1" / "1.png")
    argv = ["gallery", "search", f"--gallery={g}", f"--query={query}", "--k=2", m, "--aligned"]
    assert cli.main([*argv, f"--output={out}"]) == 0
    found = json.loads(out.read_text())
    assert [r["rank"] for r in found] == [1, 2]
    assert found[0]["label"] == "id1" and found[0]["distance"] == 0.0
    ref = ((want[2] - want[:2].astype(np.float64)) ** 2).sum(1).min()
    assert found[1]["distance"] == pytest.approx(ref, abs=1e-5)

    out = tmp_path / "who.csv"
    argv = ["gallery", "identify", f"--gallery={g}", f"--query={root}", m, "--aligned"]
    assert cli.main([*argv, "--threshold=1e-9", f"--output={out}"]) == 0
    assert [r["label"] for r in _rows(out)] == ["id0", "id0", "id1"]  # each finds itself
    assert len(_rows(str(out) + ".failures.csv")) == 1

    capsys.readouterr()
    assert cli.main(["gallery", "info", f"--gallery={g}"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 3 and info["model"] == "tiny_test_model"
    assert cli.main(["gallery", "remove", f"--gallery={g}", "--label=id0"]) == 0
    assert Gallery.open(g, readonly=True).labels == ["id1"]
    assert cli.main(["gallery", "remove", f"--gallery={g}", "--label=nobody"]) == 2


def test_add_from_embed_output_and_labels_csv(tmp_path, folder, model_path):
    root, images = folder
    g, m = str(tmp_path / "g"), f"--model={model_path}"
    assert cli.main(["gallery", "create", f"--gallery={g}", m]) == 0
    emb = tmp_path / "e.csv"
    # Another command in this process would redefine --input: run embed as its own process.
    embed = [sys.executable, "-m", "facenet_tf.cli", "embed", f"--input={root}", m]
    subprocess.run([*embed, f"--output={emb}", "--aligned"], check=True, capture_output=True)
    assert cli.main(["gallery", "add", f"--gallery={g}", f"--embeddings={emb}", m,
                     f"--output={tmp_path / 'a.csv'}"]) == 0  # fmt: skip
    gallery = Gallery.open(g, readonly=True)
    assert sorted(gallery.labels) == ["id0", "id0", "id1"]  # from the folder names
    embedded = {r["path"]: [float(r[f"e{i}"]) for i in range(8)] for r in _rows(emb)}
    for i, source in zip(gallery.ids, gallery.sources, strict=True):
        np.testing.assert_allclose(gallery.vectors([i])[0], embedded[source], atol=1e-6)

    labels = tmp_path / "labels.csv"
    photo = root / "id1" / "1.png"
    labels.write_text(f"path,label\n{photo},someone\n")
    g2 = str(tmp_path / "g2")
    assert cli.main(["gallery", "create", f"--gallery={g2}", m]) == 0
    assert cli.main(["gallery", "add", f"--gallery={g2}", f"--labels={labels}", m, "--aligned",
                     f"--output={tmp_path / 'b.csv'}"]) == 0  # fmt: skip
    gallery = Gallery.open(g2, readonly=True)
    assert gallery.labels == ["someone"] and gallery.sources == [str(photo)]


def test_user_errors(tmp_path, model_path, capsys):
    g = str(tmp_path / "g")
    assert cli.main(["gallery", "frobnicate", f"--gallery={g}"]) == 2
    assert cli.main(["gallery", "info", f"--gallery={g}"]) == 2
    assert "no such gallery" in capsys.readouterr().err
    assert cli.main(["gallery", "create", f"--gallery={g}", f"--model={model_path}"]) == 0
    assert cli.main(["gallery", "create", f"--gallery={g}", f"--model={model_path}"]) == 2
    assert cli.main(["gallery", "add", f"--gallery={g}"]) == 2
