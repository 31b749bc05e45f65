"""model_table and format_table: hand-made rows and one real (small) model."""

from __future__ import annotations

import pytest

from facenet_tf.models.registry import UNTRAINED_LICENSE
from facenet_tf.models.table import format_table, model_table, short_license

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
    "license": UNTRAINED_LICENSE,
    "summary": "",
}


def test_plain_table_cells_and_alignment():
    lines = format_table([_ROW]).splitlines()
    assert lines[0].split() == [
        "model", "input", "params", "paper", "params", "ratio",
        "mult-adds", "paper", "FLOPS", "ratio", "licence",
    ]  # fmt: skip
    assert lines[1].split() == [
        "nn4", "96x96", "6.97M", "-", "-", "289M", "285M", "1.01", "Apache-2.0",
    ]  # fmt: skip
    # Right-aligned numbers end in one column; the left-aligned licence starts in one.
    assert lines[0].index("ratio  licence") + len("ratio") == lines[1].index("1.01") + len("1.01")
    assert lines[0].index("licence") == lines[1].index("Apache-2.0")


def test_markdown_table():
    lines = format_table([_ROW], markdown=True).splitlines()
    assert lines[0].startswith("| model | input | params | paper params |")
    assert lines[0].endswith("| ratio | licence |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    assert lines[2] == "| nn4 | 96x96 | 6.97M | - | - | 289M | 285M | 1.01 | Apache-2.0 |"


def test_licence_column_short_form_and_missing():
    dlib = {**_ROW, "name": "dlib_resnet_v1", "license": "CC0-1.0 (public domain by its author)"}
    unknown = {**_ROW, "name": "other"}
    del unknown["license"]
    lines = format_table([_ROW, dlib, unknown]).splitlines()
    assert [line.split()[-1] for line in lines] == ["licence", "Apache-2.0", "CC0-1.0", "-"]
    assert short_license("MIT") == "MIT"
    assert short_license("") == short_license(None) == "-"


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
    assert row["license"] == UNTRAINED_LICENSE
