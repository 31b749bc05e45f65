"""``facenet-tf cluster`` on embedding files, on photos plus embedding files, and its
methods, against partitions known by construction."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from facenet_tf import cli
from tests.test_inference import _images, _model

DIM = 8


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    _model().save(path)
    return path


def _groups(seed: int = 0, per: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """float32 [3 * per, 8] unit rows in three tight groups on three axes, and the truth."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), per)
    x = np.eye(DIM)[truth] + 0.05 * rng.normal(size=(len(truth), DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


def _write_embed_csv(path, vectors, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path"] + [f"e{i}" for i in range(vectors.shape[1])])
        w.writerows([[n, *map(float, v)] for n, v in zip(names, vectors, strict=True)])


def _cluster(model_path, out, *, inputs="", embeddings="", method="auto", extra=()):
    # Every flag given each time: absl keeps values parsed by earlier calls in a process.
    return cli.main(
        [
            "cluster",
            f"--input={inputs}",
            f"--embeddings={embeddings}",
            f"--output={out}",
            f"--model={model_path}",
            f"--method={method}",
            "--threshold=0.5",
            "--aligned",
            *extra,
        ]
    )


def _same_partition(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return bool(((a[:, None] == a[None]) == (b[:, None] == b[None])).all())


@pytest.mark.parametrize("method", ["auto", "agglomerative", "graph"])
def test_embeddings_csv_is_clustered_without_images(method, model_path, tmp_path, capsys):
    x, truth = _groups()
    names = [f"photos/p{i:02d}.jpg" for i in range(len(x))]  # no such files: never read
    emb = tmp_path / "emb.csv"
    _write_embed_csv(emb, x, names)
    out = tmp_path / "clusters.csv"
    assert _cluster(model_path, out, embeddings=str(emb), method=method) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["path"] for r in rows] == names  # read_embeddings sorts by path
    assert [r["face_index"] for r in rows] == ["0"] * len(x)
    assert _same_partition([int(r["cluster"]) for r in rows], truth)
    assert f"{len(x)} faces in 3 clusters" in capsys.readouterr().out
    assert not (tmp_path / "clusters.csv.failures.csv").exists()


def test_graph_algorithms_differ_where_a_chain_joins_groups(model_path, tmp_path):
    # Two groups bridged by a chain of points: connected components joins everything
    # (single linkage); Chinese Whispers keeps the two dense groups apart.
    rng = np.random.default_rng(1)
    a, b = np.eye(DIM)[0], np.eye(DIM)[1]
    dense = [a + 0.02 * rng.normal(size=DIM) for _ in range(12)]
    dense += [b + 0.02 * rng.normal(size=DIM) for _ in range(12)]
    chain = [np.cos(t) * a + np.sin(t) * b for t in np.linspace(0.25, np.pi / 2 - 0.25, 4)]
    x = np.array(dense + chain)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    emb = tmp_path / "emb.csv"
    _write_embed_csv(emb, x, [f"p{i:02d}" for i in range(len(x))])
    found = {}
    for algorithm in ("connected_components", "chinese_whispers"):
        out = tmp_path / f"{algorithm}.csv"
        extra = [f"--graph_algorithm={algorithm}", "--k=30"]
        assert _cluster(model_path, out, embeddings=str(emb), method="graph", extra=extra) == 0
        found[algorithm] = np.array([int(r["cluster"]) for r in csv.DictReader(open(out))])
    assert len(set(found["connected_components"])) == 1
    cw = found["chinese_whispers"]
    assert len(set(cw[:12])) == 1 and len(set(cw[12:24])) == 1 and cw[0] != cw[12]


def test_photos_held_in_the_embedding_files_are_not_embedded_again(model_path, tmp_path):
    images = _images(4)
    root = tmp_path / "faces"
    root.mkdir()
    for i, img in enumerate(images):
        cv2.imwrite(str(root / f"{i}.png"), img[..., ::-1])
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    # Embeddings of two photos, replaced by vectors the model would never give them.
    held = np.zeros((2, DIM), np.float32)
    held[:, 7] = 1.0
    emb = tmp_path / "emb.csv"
    _write_embed_csv(emb, held, [str(root / "0.png"), str(root / "1.png")])
    out = tmp_path / "clusters.json"
    assert _cluster(model_path, out, inputs=str(root), embeddings=str(emb)) == 0
    import json

    rows = json.loads(out.read_text())
    assert sorted(r["path"] for r in rows) == sorted(str(root / f"{i}.png") for i in range(4))
    by_path = {r["path"]: r["cluster"] for r in rows}
    # the two held (identical) vectors form one cluster; the others are embedded anew
    assert by_path[str(root / "0.png")] == by_path[str(root / "1.png")]
    assert by_path[str(root / "2.png")] != by_path[str(root / "0.png")]
    failures = list(csv.DictReader(open(str(out) + ".failures.csv")))
    assert [f["path"].endswith("broken.jpg") for f in failures] == [True]


def test_no_input_at_all_is_a_user_error(model_path, tmp_path, capsys):
    assert _cluster(model_path, tmp_path / "c.csv") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--embeddings" in err and err.count("\n") == 1


def test_missing_embedding_file_is_a_user_error(model_path, tmp_path, capsys):
    missing = tmp_path / "nothing-*.csv"
    assert _cluster(model_path, tmp_path / "c.csv", embeddings=str(missing)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nothing-" in err and err.count("\n") == 1
