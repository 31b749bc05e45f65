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


def test_far_identities_keep_only_the_named_identities(tmp_path):
    for name in ("10", "30", "notes"):
        (tmp_path / "split" / name).mkdir(parents=True)
    (tmp_path / "empty" / "x").mkdir(parents=True)
    code = (
        "import sys, numpy as np; from pathlib import Path; "
        "from benchmarks.lfw_default_model import restrict_identities; "
        "p = [Path(f'{i}.jpg') for i in range(6)]; "
        "lab = np.array([10, 20, 30, 10, 40, 30]); "
        "q, l = restrict_identities(p, lab, sys.argv[1]); "
        "print([x.name for x in q], l.tolist()); "
        "q, l = restrict_identities(p, lab, None); print(len(q), l.tolist()); "
        "restrict_identities(p, lab, sys.argv[2])"
    )
    proc = _python("-c", code, str(tmp_path / "split"), str(tmp_path / "empty"))
    lines = proc.stdout.splitlines()
    assert lines[0] == "['0.jpg', '2.jpg', '3.jpg', '5.jpg'] [10, 30, 10, 30]"
    assert lines[1] == "6 [10, 20, 30, 10, 40, 30]"
    assert proc.returncode != 0 and "no subfolder names a CelebA identity" in proc.stderr
    assert str(tmp_path / "empty") in proc.stderr
