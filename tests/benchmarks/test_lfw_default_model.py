"""The LFW default-model benchmark keeps one report per model, so sections never mix.

Run as subprocesses: the benchmark is an absl binary whose flags would clash with other
benchmark modules imported by this test session."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_each_model_has_its_own_report_and_none_is_mixed_into(tmp_path):
    proc = _python(
        "-c",
        "import facenet_tf; from benchmarks.lfw_default_model import report_path; "
        "print(report_path(facenet_tf.default_model_name()).name); "
        "print(report_path('mobilefacenet_harmonic_dlib').name)",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["lfw_default_model.json", "lfw_mobilefacenet_harmonic_dlib.json"]

    out = tmp_path / "report.json"
    saved = {"model": "dlib_resnet_v1", "view2": {"accuracy_mean": 0.99}}
    out.write_text(json.dumps(saved))
    proc = _python(
        "benchmarks/lfw_default_model.py",
        "--model=mobilefacenet_harmonic_dlib",
        f"--output={out}",
        "--calibrate",
    )
    assert proc.returncode != 0
    assert "holds the report of 'dlib_resnet_v1'" in proc.stderr
    assert json.loads(out.read_text()) == saved  # untouched


def test_sections_of_other_weights_under_the_same_name_are_dropped(tmp_path):
    out = tmp_path / "report.json"
    stale = {"model": "mobilefacenet_harmonic_dlib", "weights_sha256": "0" * 64, "view2": {}}
    out.write_text(json.dumps(stale))
    proc = _python(
        "benchmarks/lfw_default_model.py", "--model=mobilefacenet_harmonic_dlib", f"--output={out}"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert "view2" not in report
    assert "old sections are dropped" in proc.stdout
    assert len(report["weights_sha256"]) == 64 and report["weights_sha256"] != "0" * 64
