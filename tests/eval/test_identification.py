"""Identification: gallery/probe split, ranks and DIR at FAR against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import identification as I


def _at(deg):
    r = np.deg2rad(np.asarray(deg, float))
    return np.stack([np.cos(r), np.sin(r)], 1)


def test_split_gallery_probe():
    split = I.split_gallery_probe(["a", "a", "b", "c", "c", "c"])
    np.testing.assert_array_equal(split.gallery, [0, 3])
    np.testing.assert_array_equal(split.probes, [1, 4, 5])
    np.testing.assert_array_equal(split.distractors, [2])
    seeded = I.split_gallery_probe(["a", "a", "b", "c", "c", "c"], seed=3)
    assert sorted([*seeded.gallery, *seeded.probes]) == [0, 1, 3, 4, 5]
    with pytest.raises(InvalidInputError, match="no gallery"):
        I.split_gallery_probe(["a", "b"])


def test_probe_ranks_hand_computed():
    # gallery on the unit circle: A at 0 deg, B at 90, C at 180; distance grows with angle
    gallery, g_lab = _at([0, 90, 180]), ["A", "B", "C"]
    probes = _at([10, 150, 100, 60])
    p_lab = ["A", "B", "C", "A"]
    # 10: A(10) B(80) C(170) -> A rank 1; 150: C(30) B(60) -> B rank 2;
    # 100: B(10) C(80) A(100) -> C rank 2; 60: B(30) A(60) -> A rank 2
    np.testing.assert_array_equal(I.probe_ranks(gallery, g_lab, probes, p_lab), [1, 2, 2, 2])
    # a second gallery image of A at 140 deg (an identity counts its closest image):
    # 150: A(10) C(30) B(60) -> B rank 3; 100: B(10) A(40) C(80) -> C rank 3
    g2 = np.r_[gallery, _at([140])]
    ranks = I.probe_ranks(g2, [*g_lab, "A"], probes, p_lab, distance="cosine")
    np.testing.assert_array_equal(ranks, [1, 3, 3, 2])


def test_evaluate_identification_closed_and_open_set():
    # A: gallery 0 deg, probes 5, 40; B: gallery 90, probe 80; C: gallery 180, probe 120
    # distractors D at 30 deg (best 30), E at 300 (60), F at 225 (45), G at 270 (90)
    emb = _at([0, 5, 40, 90, 80, 180, 120, 30, 300, 225, 270])
    labels = ["A", "A", "A", "B", "B", "C", "C", "D", "E", "F", "G"]
    res = I.evaluate_identification(emb, labels, far_targets=(0.0, 0.25, 0.5))
    assert (res.num_gallery, res.num_probes, res.num_distractors) == (3, 4, 4)
    # 5 -> A rank 1; 40 -> A(40) B(50) rank 1; 80 -> B(10) rank 1; 120 -> B(30) C(60) rank 2
    assert res.rank1 == pytest.approx(0.75) and res.rank5 == 1.0
    assert res.cmc[:3] == (0.75, 1.0, 1.0)

    def sq(deg):  # squared L2 between unit vectors `deg` apart
        return 2 - 2 * np.cos(np.deg2rad(deg))

    # distractors' best gallery distances, sorted: 30, 45, 60, 90 degrees.
    # FAR 0: accept below 30 deg -> rank-1 mated probes within: 5 (A), 80 (B at 10) -> 2/4
    r = res.dir_at_far["0.0"]
    assert r["threshold"] < sq(30) and r["far"] == 0.0 and r["dir"] == pytest.approx(0.5)
    # FAR 0.25: k = 1 -> accept below 45 deg: D accepted; 40 (A at 40) joins -> 3/4
    r = res.dir_at_far["0.25"]
    assert sq(30) <= r["threshold"] < sq(45)
    assert r["far"] == pytest.approx(0.25) and r["dir"] == pytest.approx(0.75)
    # FAR 0.5: below 60 deg: 120 (C at 60) would need rank 1 but is rank 2 -> still 3/4
    r = res.dir_at_far["0.5"]
    assert sq(45) <= r["threshold"] < sq(60)
    assert r["far"] == pytest.approx(0.5) and r["dir"] == pytest.approx(0.75)


def test_identification_without_distractors_reports_nan_dir():
    emb = _at([0, 10, 90, 100])
    res = I.evaluate_identification(emb, ["a", "a", "b", "b"])
    assert res.rank1 == 1.0 and res.num_distractors == 0
    assert np.isnan(res.dir_at_far["0.001"]["dir"])
