"""Report writers: JSON with numpy values and NaN, ROC and cluster PNGs."""

from __future__ import annotations

import json

import numpy as np

from facenet_tf.eval import report, verification

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_json_converts_numpy_and_nan(tmp_path):
    p = report.write_json(tmp_path / "r.json", {"a": np.float32(0.5), "b": (1, np.int64(2)),
                                                "c": float("nan"), "d": np.arange(2)})  # fmt: skip
    assert json.loads(p.read_text()) == {"a": 0.5, "b": [1, 2], "c": None, "d": [0, 1]}


def test_roc_and_cluster_pngs(tmp_path):
    rng = np.random.default_rng(0)
    s = rng.random(200) < 0.5
    curve = verification.roc_curve(np.where(s, 0.5, 1.0) + rng.normal(0, 0.3, 200), s)
    roc = report.plot_roc(tmp_path / "roc.png", {"m": curve})
    x = rng.normal(size=(12, 4))
    labels = ["a"] * 6 + ["b"] * 6
    pca = report.plot_clusters(tmp_path / "c.png", x, labels, [0] * 6 + [1] * 5 + [-1])
    tsne = report.plot_clusters(tmp_path / "t.png", x, labels, method="tsne")
    for p in (roc, pca, tsne):
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000


def test_pca_projection_keeps_the_main_axis():
    x = np.zeros((4, 3))
    x[:, 1] = [-3, -1, 1, 3]  # all variance along axis 1
    xy = report.project_2d(x)
    np.testing.assert_allclose(np.abs(xy[:, 0]), [3, 1, 1, 3], atol=1e-9)
