"""Training curves of a run trained in stages are joined end to end."""

from __future__ import annotations

import json

from benchmarks import training_curves


def _write(workdir, records):
    workdir.mkdir()
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_stages_follow_each_other(tmp_path):
    _write(tmp_path / "a", [{"step": 0, "val/accuracy": 0.5}, {"step": 10, "loss": 2.0},
                            {"step": 20, "loss": 1.0}, {"step": 20, "val/accuracy": 0.8}])  # fmt: skip
    _write(tmp_path / "b", [{"step": 0, "val/accuracy": 0.8}, {"step": 5, "loss": 0.9},
                            {"step": 10, "val/accuracy": 0.9}])  # fmt: skip
    merged = training_curves.read_stages(f"{tmp_path / 'a'}+{tmp_path / 'b'}")
    assert [(r["step"], "loss" in r) for r in merged] == [
        (0, False), (10, True), (20, True), (20, False), (25, True), (30, False)
    ]  # fmt: skip
    assert merged[-1]["val/accuracy"] == 0.9
    assert training_curves.read_stages(str(tmp_path / "a")) == training_curves.read_metrics(
        str(tmp_path / "a")
    )
