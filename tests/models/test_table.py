"""model_table and format_table: hand-made rows and one real (small) model."""

from __future__ import annotations

import pytest

from facenet_tf.models.table import format_table, model_table

_ROW = {
    "name": "nn4",
    "input_size": (96, 96),
    "align_template": "facenet_160",
    "params": 6_966_656,
    "flops": 288_870_400,
    "paper_params": None,
    "paper_flops": 285e6,
    "params_ratio": None,
    "flops_ratio": 288_870_400 / 285e6,
    "summary": "",
}


def test_plain_table_cells_and_alignment():
    lines = format_table([_ROW]).splitlines()
    assert lines[0].split() == [
        "model", "input", "params", "paper", "params", "ratio",
        "mult-adds", "paper", "FLOPS", "ratio",
    ]  # fmt: skip
    assert lines[1].split() == ["nn4", "96x96", "6.97M", "-", "-", "289M", "285M", "1.01"]
    assert len(lines[0]) == len(lines[1])  # right-aligned numbers end in one column


def test_markdown_table():
    lines = format_table([_ROW], markdown=True).splitlines()
    assert lines[0].startswith("| model | input | params | paper params |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert lines[2] == "| nn4 | 96x96 | 6.97M | - | - | 289M | 285M | 1.01 |"


def test_model_table_row_for_nns2():
    (row,) = model_table(["nns2"])
    # Golden count (see tests/models/test_zoo.py) and the paper's 4.3M / 20M.
    assert row["name"] == "nns2"
    assert row["input_size"] == (140, 116)
    assert row["params"] == 4_380_224
    assert row["paper_params"] == 4.3e6 and row["paper_flops"] == 20e6
    assert row["params_ratio"] == pytest.approx(4_380_224 / 4.3e6)
    assert row["flops_ratio"] == pytest.approx(row["flops"] / 20e6)
    assert 0.75 <= row["flops_ratio"] <= 1.25
