"""Template geometry: constants, fitted values' plausibility and their recorded fit."""

from __future__ import annotations

import json

import pytest

from facenet_tf.align.templates import TEMPLATES_JSON, get_template, template_names
from facenet_tf.errors import InvalidInputError


@pytest.mark.parametrize(
    "name,size", [("facenet_160", 160), ("dlib_150", 150), ("mobile_112", 112)]
)
def test_face_geometry_is_upright_and_centred(name, size):
    t = get_template(name)
    assert t.size == size and t.points.shape == (5, 2)
    le, re, nose, ml, mr = t.points
    assert le[0] < re[0] and ml[0] < mr[0]  # image-left before image-right
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])  # eyes, nose, mouth downwards
    assert abs(le[1] - re[1]) < 0.02 * size  # eyes level
    assert abs((le[0] + re[0]) / 2 - (size - 1) / 2) < 0.05 * size  # centred
    assert 0.25 * size < re[0] - le[0] < 0.5 * size  # inter-ocular distance


def test_fitted_templates_record_their_fit():
    data = json.loads(TEMPLATES_JSON.read_text())
    for name in ("facenet_160", "dlib_150"):
        fit = data["templates"][name]["fit"]
        assert fit["fit_faces"] >= 500 and fit["eval_faces"] >= 500
        assert fit["eval_crop_displacement_px_median"] < 0.1 * data["templates"][name]["size"]
    # Our warp with dlib's own chip matrix reproduces dlib's chip (conventions agree).
    assert data["templates"]["dlib_150"]["fit"]["reference_warp_vs_dlib_chip_mae"] < 2.0


def test_dlib_template_is_tighter_than_facenet():
    # dlib's 0.25-padding chip is a tight face crop; the FaceNet crop keeps a margin.
    def eye_frac(name):
        t = get_template(name)
        return (t.points[1, 0] - t.points[0, 0]) / t.size

    assert eye_frac("dlib_150") > eye_frac("facenet_160")


def test_unknown_template():
    with pytest.raises(InvalidInputError, match="known: .*dlib_150"):
        get_template("vgg_224")
    assert sorted(template_names()) == ["dlib_150", "facenet_160", "mobile_112"]
