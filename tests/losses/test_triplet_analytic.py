"""Hand-derived values; each docstring carries the derivation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.losses import (
    triplet_batch_all_loss,
    triplet_batch_all_stats,
    triplet_batch_hard_loss,
    triplet_semihard_loss,
    triplet_semihard_stats,
)

# Four points on a line, labels [0, 0, 1, 1]: x = 0, 1, 2, 4.
LABELS = np.array([0, 0, 1, 1], np.int32)
LINE = np.array([[0.0], [1.0], [2.0], [4.0]], np.float32)


def test_semihard_squared_l2_with_ties():
    """Squared distances: d01=1, d02=4, d03=16, d12=1, d13=9, d23=4; margin 0.2.

    (a=0, p=1): d_ap=1, negatives {4, 16}: nearest farther 4 -> max(1-4+.2, 0) = 0.
    (a=1, p=0): d_ap=1, negatives {1, 9}: 1 ties d_ap, is not *strictly* farther -> 9 -> 0.
    (a=2, p=3): d_ap=4, negatives {4, 1}: none farther (4 ties) -> farthest, 4 -> 0.2.
    (a=3, p=2): d_ap=4, negatives {16, 9}: nearest farther 9 -> 0.
    Loss = 0.2 / 4 = 0.05; active 1/4, fallback 1/4, mean d_ap = 2.5,
    mean d_an = (4 + 9 + 4 + 9) / 4 = 6.5.
    """
    assert triplet_semihard_loss(LABELS, LINE).numpy() == pytest.approx(0.05, rel=1e-6)
    stats = {k: v.numpy() for k, v in triplet_semihard_stats(LABELS, LINE).items()}
    assert stats["fraction_active_triplets"] == pytest.approx(0.25)
    assert stats["fraction_fallback_negatives"] == pytest.approx(0.25)
    assert stats["mean_d_ap"] == pytest.approx(2.5)
    assert stats["mean_d_an"] == pytest.approx(6.5)
    assert stats["num_positive_pairs"] == 4


def test_semihard_l2_margin_one():
    """L2 distances: d01=1, d02=2, d03=4, d12=1, d13=3, d23=2; margin 1 (TF Addons' default).

    (0,1): d_ap=1, negatives {2, 4} -> 2 -> max(1-2+1, 0) = 0.
    (1,0): d_ap=1, negatives {1, 3} -> 3 (1 ties) -> 0.
    (2,3): d_ap=2, negatives {2, 1}: none farther -> farthest 2 -> 1.
    (3,2): d_ap=2, negatives {4, 3} -> 3 -> 0.
    Loss = 1 / 4.
    """
    got = triplet_semihard_loss(LABELS, LINE, margin=1.0, distance="L2")
    assert got.numpy() == pytest.approx(0.25, rel=1e-6)


def test_semihard_angular():
    """Unit vectors at 0, 60, 90 and 180 degrees (scaled by 3: angular normalises), labels
    [0, 0, 1, 1]. 1 - cos: d01=.5, d02=1, d03=2, d12=1-sqrt(3)/2~.134, d13=1.5, d23=1.

    (0,1): d_ap=.5, negatives {1, 2} -> 1 -> max(.5-1+.2, 0) = 0.
    (1,0): d_ap=.5, negatives {.134, 1.5} -> 1.5 -> 0.
    (2,3): d_ap=1, negatives {1, .134}: none strictly farther -> farthest 1 -> .2.
    (3,2): d_ap=1, negatives {2, 1.5} -> 1.5 -> 0.
    Loss = .2 / 4 = .05.
    """
    x = 3.0 * np.array([[1, 0], [0.5, math.sqrt(3) / 2], [0, 1], [-1, 0]], np.float32)
    got = triplet_semihard_loss(LABELS, x, margin=0.2, distance="angular")
    assert got.numpy() == pytest.approx(0.05, rel=1e-5)


def test_semihard_single_identity_uses_row_minimum():
    """One identity, x = 0, 1, 3 (squared: d01=1, d02=9, d12=4). No negative at all, so
    TF Addons' fallback takes the minimum of the anchor's row, the zero diagonal:
    each of the 6 ordered pairs costs d_ap + 0.2 -> (2 * (1 + 9 + 4) + 6 * .2) / 6 = 29.2 / 6.
    """
    got = triplet_semihard_loss([5, 5, 5], [[0.0], [1.0], [3.0]])
    assert got.numpy() == pytest.approx(29.2 / 6, rel=1e-6)


def test_batch_hard_hinge_and_soft():
    """Same line. Hardest positive / nearest negative per anchor:
    a0: 1 vs min(4, 16)=4 -> max(1-4+.2,0)=0;   a1: 1 vs min(1, 9)=1 -> .2;
    a2: 4 vs min(4, 1)=1 -> 3.2;                 a3: 4 vs min(16, 9)=9 -> 0.
    Hinge: 3.4 / 4 = .85. Soft: (sp(-3) + sp(0) + sp(3) + sp(-5)) / 4 with sp(x) = log1p(e^x).
    """
    assert triplet_batch_hard_loss(LABELS, LINE).numpy() == pytest.approx(0.85, rel=1e-6)
    soft = sum(math.log1p(math.exp(v)) for v in (-3, 0, 3, -5)) / 4
    got = triplet_batch_hard_loss(LABELS, LINE, soft=True)
    assert got.numpy() == pytest.approx(soft, rel=1e-6)


def test_batch_all():
    """Same line, all 8 valid triplets (a, p, n) with hinge d_ap - d_an + .2:
    a0p1: 1-4, 1-16 -> inactive;  a1p0: 1-1+.2 = .2 active, 1-9 inactive;
    a2p3: 4-4+.2 = .2, 4-1+.2 = 3.2 active;  a3p2: 4-16, 4-9 inactive.
    Loss = (.2 + .2 + 3.2) / 3 = 1.2; fraction active = 3 / 8.
    """
    loss, fraction = triplet_batch_all_loss(LABELS, LINE, return_fraction=True)
    assert loss.numpy() == pytest.approx(1.2, rel=1e-6)
    assert fraction.numpy() == pytest.approx(3 / 8)
    stats = triplet_batch_all_stats(LABELS, LINE)
    assert stats["num_valid_triplets"].numpy() == 8
    assert stats["num_active_triplets"].numpy() == 3
    # Anchor-negative distances: a0 {4, 16}, a1 {1, 9}, a2 {4, 1}, a3 {16, 9} -> 60 / 8.
    assert stats["mean_d_an"].numpy() == pytest.approx((4 + 16 + 1 + 9) / 4)


def test_paper_geometry_on_unit_vectors():
    """FaceNet's setting: unit vectors, squared L2 (2 - 2 cos), alpha = .2, labels [0, 0, 1, 2].

    a = 0 deg, p = 60 deg: d_ap = 2 - 2 cos 60 = 1. Negatives of a: 65 deg,
    d = 2 - 2 cos 65 = 1.1548 (semi-hard: farther than p, inside the margin) and 180 deg,
    d = 4 (easy). (a, p) costs 1 + .2 - 1.1548 = .0452.
    (p, a): p's negatives are at 5 deg (d = .0076) and 120 deg (d = 3); the nearest
    farther than 1 is 3 -> 0. Loss = .0452 / 2.
    """
    deg = np.radians([0.0, 60.0, 65.0, 180.0])
    x = np.stack([np.cos(deg), np.sin(deg)], axis=1).astype(np.float32)
    expected = (1.0 + 0.2 - (2 - 2 * math.cos(math.radians(65)))) / 2
    got = triplet_semihard_loss(tf.constant([0, 0, 1, 2]), x)
    assert got.numpy() == pytest.approx(expected, rel=1e-4)
