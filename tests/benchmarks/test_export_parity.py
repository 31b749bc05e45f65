"""The parity report's arithmetic, targets and files, on hand-made figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import export_parity_lib, export_parity_report
from facenet_tf.errors import InvalidInputError


def test_cosine_stats_hand_values():
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    other = np.array([[1.0, 1.0], [0.0, 5.0], [4.0, 3.0]])
    stats = export_parity_lib.cosine_stats(ref, other)
    expected = [1 / np.sqrt(2), 1.0, 24 / 25]
    assert stats["mean"] == pytest.approx(np.mean(expected))
    assert stats["min"] == pytest.approx(1 / np.sqrt(2))


def _row(variant, size, ms, cos_min, acc=None):
    row = {
        "variant": variant,
        "size_bytes": size,
        "latency_ms": {"1": {"median": 2 * ms, "min": ms}, "4": {"median": ms, "min": ms / 2}},
        "cosine": {"mean": cos_min, "min": cos_min},
    }
    if acc is not None:
        row["lfw"] = {"accuracy": acc, "accuracy_std": 0.5, "devtrain_threshold": 1.0}
    return row


def _report(int8_acc=99.0, int8_ms=20.0):
    return {
        "model": "m",
        "input_size": [150, 150],
        "pipeline": {
            "model": "m",
            "template": "dlib_150",
            "input_size": [150, 150],
            "face": "center_weighted",
            "flip": False,
            "on_no_face": "whole_image",
            "detector": "mtcnn",
        },
        "faces": {
            "evaluation": 1000,
            "evaluation_no_face": 2,
            "calibration": 199,
            "calibration_no_face_left_out": 1,
        },
        "lfw": {"no_face_whole_image": 3},
        "machine": {
            "cpu_count": 2,
            "cpu": "x",
            "simd": [],
            "load_average_at_start": 1.0,
            "tensorflow": "t",
            "ai_edge_litert": "l",
            "python": "p",
        },  # fmt: skip
        "complete": True,
        "rows": [
            {
                "variant": "keras (reference)",
                "cosine": {"mean": 1.0, "min": 1.0},
                "lfw": {"accuracy": 99.2, "accuracy_std": 0.4, "devtrain_threshold": 1.0},
            },
            {
                "variant": "savedmodel embed_quantized",
                "cosine": {"mean": 1.0, "min": 0.9999},
                "lfw": {"accuracy": 99.15, "accuracy_std": 0.4, "devtrain_threshold": 1.0},
            },
            _row("tflite float32", 100, 50.0, 1.0, 99.2),
            _row("tflite float16", 50, 50.0, 0.99995),
            _row("tflite int8", 26, int8_ms, 0.999, int8_acc),
        ],  # fmt: skip
    }


def test_targets_met_and_missed():
    met = {
        t["target"].split(" ")[0] + str(i): t["met"]
        for i, t in enumerate(export_parity_report.targets(_report()))
    }
    assert all(met.values()) and len(met) == 5
    missed = export_parity_report.targets(_report(int8_acc=98.8, int8_ms=30.0))
    by_name = {t["target"]: t for t in missed}
    speed = next(t for n, t in by_name.items() if "latency" in n)
    assert speed["value"] == pytest.approx(50 / 30) and not speed["met"]
    lfw = next(t for n, t in by_name.items() if "int8 LFW" in n)
    assert lfw["value"] == pytest.approx(0.4) and not lfw["met"]


def test_partial_report_has_only_measured_targets():
    report = _report()
    report["rows"] = report["rows"][:3]  # keras, codes, float32 only
    names = [t["target"] for t in export_parity_report.targets(report)]
    assert names == [n for n in names if "codes" in n]


def test_write_report(tmp_path):
    report = _report()
    report["targets"] = export_parity_report.targets(report)
    report["rows"][2]["file"] = "/some/where/m_float32.tflite"
    md, js = export_parity_report.write_report(report, tmp_path)
    text = md.read_text()
    assert "| tflite int8 | 0.00 | 0.260 |" in text and "MISSED" not in text
    assert "through `FacePipeline` (model='m', template='dlib_150'" in text
    assert "flip=False, on_no_face='whole_image'" in text
    assert "1 of the calibration photos (left out), 2 of the CelebA" in text
    assert "3 of the LFW images" in text and "box" not in text
    assert json.loads(js.read_text())["rows"][2]["file"] == "m_float32.tflite"


def test_cached_round_trip(tmp_path):
    calls = []
    path = tmp_path / "x.npy"
    first = export_parity_lib.cached(path, lambda: calls.append(1) or np.arange(3))
    second = export_parity_lib.cached(path, lambda: calls.append(1) or np.arange(5))
    np.testing.assert_array_equal(first, second)
    assert calls == [1]


def test_config_validation(shared_data):
    with pytest.raises(InvalidInputError, match="including 1"):
        export_parity_lib.ParityConfig(model="m", shared_data_dir=str(shared_data), threads=(2, 4))
    with pytest.raises(InvalidInputError, match="celeba"):
        export_parity_lib.ParityConfig(model="m", shared_data_dir="/nonexistent")


def _pairs(path, header, lines):
    path.write_text("\n".join([header, *lines]) + "\n")


def test_lfw_scores_through_pair_evaluators(tmp_path):
    """View 2 and DevTrain share one embedding per image; each is scored by its evaluator."""
    from facenet_tf.export import threshold

    lfw = tmp_path / "lfw"
    lfw.mkdir()
    view2 = []
    for fold in range(10):
        view2 += [f"P{fold} 1 2", f"P{fold} 1 Q{fold} 1"]
    _pairs(lfw / "pairs.txt", "10\t1", view2)
    _pairs(lfw / "pairsDevTrain.txt", "2", ["P0 1 2", "R 1 2", "P0 1 Q0 1", "R 1 Q1 1"])
    for line in view2 + ["R 1 2"]:
        parts = line.split()
        keys = [(parts[0], int(parts[1]))]
        keys.append((parts[0], int(parts[2])) if len(parts) == 3 else (parts[2], int(parts[3])))
        for name, index in keys:
            image = lfw / "lfw-deepfunneled" / name / f"{name}_{index:04d}.jpg"
            image.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(b"")
    v2, dev, paths, rows = export_parity_lib.lfw_evaluators(tmp_path)
    assert len(paths) == len(set(paths)) == len(set(v2.paths) | set(dev.paths))
    assert [paths[i] for i in rows[0]] == v2.paths and [paths[i] for i in rows[1]] == dev.paths
    # Same person: nearby vectors; different people: orthogonal ones.
    emb = np.array(
        [[1.0, 0.0] if p.parent.name[0] in "PR" else [0.0, 1.0] for p in paths]
    ) + np.array([[0.0, 0.1 * (p.stem.endswith("2"))] for p in paths])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = export_parity_lib.lfw_scores(emb, v2, dev, rows)
    assert scores["accuracy"] == 100.0 and scores["devtrain_accuracy"] == 100.0
    chosen = threshold.threshold_from_embeddings(dev, emb[rows[1]])
    assert scores["devtrain_threshold"] == chosen["threshold"]
