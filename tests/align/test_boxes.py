"""MTCNN box operations against hand-computed values and a brute-force IoU."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.align import boxes as B


def _iou_brute(a, b, method):
    """Pixel-grid-free reference: overlap of axis-aligned intervals, written out."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    inter = ix * iy
    return inter / (area_a + area_b - inter) if method == "union" else inter / min(area_a, area_b)


@pytest.mark.parametrize("method", ["union", "min"])
def test_iou_matches_brute_force(method):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (30, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 30, (30, 2))])
    got = B.iou_one_to_many(boxes[0], boxes, method)
    want = [_iou_brute(boxes[0], b, method) for b in boxes]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_iou_by_hand():
    # [0,0,2,2] vs [1,1,3,3]: intersection 1, union 7, smaller area 4.
    a, b = np.array([0.0, 0, 2, 2]), np.array([[1.0, 1, 3, 3]])
    assert B.iou_one_to_many(a, b, "union")[0] == pytest.approx(1 / 7)
    assert B.iou_one_to_many(a, b, "min")[0] == pytest.approx(1 / 4)


def test_nms_by_hand():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = np.array([0.6, 0.9, 0.5, 0.8])
    # Box 1 (0.9) kept; box 3 overlaps it with IoU 72/118 = 0.61, box 0 with 81/119 = 0.68:
    # both dropped at 0.5; box 2 is disjoint and kept.
    np.testing.assert_array_equal(B.nms(boxes, scores, 0.5), [1, 2])
    # At 0.65 box 3 survives (0.61 <= 0.65) while box 0 (0.68 with box 1) is still dropped.
    np.testing.assert_array_equal(B.nms(boxes, scores, 0.65), [1, 3, 2])


def test_nms_is_greedy_not_transitive():
    # A suppresses B, B would suppress C, but A and C do not overlap: C must survive.
    boxes = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10.0]])
    np.testing.assert_array_equal(B.nms(boxes, np.array([0.9, 0.8, 0.7]), 0.2), [0, 2])


def test_square_by_hand():
    np.testing.assert_allclose(B.square(np.array([[10.0, 20, 30, 60]])), [[0, 20, 40, 60]])


def test_regress_by_hand():
    # width + 1 = 11, height + 1 = 21.
    got = B.regress(np.array([[0.0, 0, 10, 20]]), np.array([[0.1, -0.1, 0.2, 0.0]]))
    np.testing.assert_allclose(got, [[1.1, -2.1, 12.2, 20]])


def test_landmarks_to_pixels_by_hand():
    boxes = np.array([[10.0, 20, 19, 39]])  # w + 1 = 10, h + 1 = 20
    lm = np.array([[0.0, 0.5, 1.0, 0.2, 0.8, 0.0, 0.5, 1.0, 0.25, 0.75]])
    got = B.landmarks_to_pixels(boxes, lm)[0]
    np.testing.assert_allclose(got[:, 0], [9, 14, 19, 11, 17])
    np.testing.assert_allclose(got[:, 1], [19, 29, 39, 24, 34])


def test_pyramid_scales_for_lfw():
    # 250 px, min face 20: first scale 12/20, then x0.709 while 250 * s >= 12.
    scales = B.pyramid_scales(250, 250, 20, 0.709)
    np.testing.assert_allclose(scales, 0.6 * 0.709 ** np.arange(8))
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709
    assert B.scaled_size(250, 250, scales[1]) == (106, 106)  # 106.35 truncated
    assert B.pyramid_scales(19, 400, 20, 0.709) == []  # 19 * 0.6 < 12


def test_pnet_proposals_by_hand():
    prob = np.zeros((3, 4))
    prob[1, 2] = 0.9
    prob[2, 0] = 0.7
    prob[0, 0] = 0.5  # below threshold
    reg = np.zeros((3, 4, 4))
    reg[1, 2] = [0.1, 0, 0, -0.1]
    boxes, scores = B.pnet_proposals(reg, prob, scale=0.5, threshold=0.6)
    np.testing.assert_allclose(scores, [0.9, 0.7])
    # Cell (y=1, x=2): x1 = 2*2 + 1 = 5, y1 = 3, side 11, offsets x 11; then / 0.5.
    np.testing.assert_allclose(boxes[0], np.array([5 + 1.1, 3, 16, 14 - 1.1]) / 0.5)
    np.testing.assert_allclose(boxes[1], np.array([1, 5, 12, 16]) / 0.5)


def _nms_one_at_a_time(boxes, scores, threshold, method):
    """Greedy NMS written as its definition: one kept box at a time against the rest."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if _iou_brute(boxes[i], boxes[j], method) <= threshold]
    return keep


@pytest.mark.parametrize("method", ["union", "min"])
@pytest.mark.parametrize("n", [0, 1, 7, 300, 700])  # 300 and 700 span several blocks
def test_nms_matches_one_at_a_time_reference(method, n):
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 200, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(5, 60, (n, 2))])
    scores = rng.choice(np.linspace(0.5, 1.0, 40), n)  # ties: order must stay stable
    for threshold in (0.3, 0.7):
        want = _nms_one_at_a_time(boxes, scores, threshold, method)
        np.testing.assert_array_equal(B.nms(boxes, scores, threshold, method), want)


def test_overlap_matrix_rows_equal_one_to_many():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (20, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 30, (20, 2))])
    matrix = B.overlap_matrix(boxes, boxes, "union")
    for i in range(len(boxes)):
        np.testing.assert_array_equal(matrix[i], B.iou_one_to_many(boxes[i], boxes))
    np.testing.assert_array_equal(matrix, matrix.T)
