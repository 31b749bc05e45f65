"""NumPy box operations of the MTCNN cascade (proposal decoding, NMS, regression).

Boxes are float64 [N, 4] arrays of (x1, y1, x2, y2) in pixels. The conventions (cell
offsets, the "+1" in widths, IoU without "+1") follow the ``mtcnn`` package 1.x so our
detections can be compared with its detections box for box.
"""

from __future__ import annotations

import numpy as np

PNET_STRIDE = 2
PNET_CELL = 12


def pyramid_scales(
    height: int, width: int, min_face_size: float, scale_factor: float
) -> list[float]:
    """Scales of the P-Net image pyramid.

    The first scale maps a ``min_face_size`` face onto P-Net's 12-pixel window; each
    next one multiplies by ``scale_factor`` while the shorter side stays >= 12 pixels.

    Returns:
        Scales, largest first (empty when the image is smaller than 12 pixels at the first
        scale).
    """
    scale = PNET_CELL / float(min_face_size)
    side = min(height, width) * scale
    scales = []
    while side >= PNET_CELL:
        scales.append(scale)
        scale *= scale_factor
        side *= scale_factor
    return scales


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Pyramid level size: truncated, as ``tf.image.resize`` does with a float size."""
    return int(height * scale), int(width * scale)


def pnet_proposals(
    regression: np.ndarray, probability: np.ndarray, scale: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Decodes one P-Net output map into boxes in original-image pixels.

    Args:
        regression: float [h, w, 4] box offsets (fractions of the 12-pixel window).
        probability: float [h, w] face probability.
        scale: pyramid scale of this map.
        threshold: minimum probability.

    Returns:
        boxes float64 [N, 4] and scores float64 [N], sorted by decreasing score.
    """
    ys, xs = np.nonzero(probability > threshold)
    scores = probability[ys, xs].astype(np.float64)
    reg = regression[ys, xs].astype(np.float64)
    x1 = xs * PNET_STRIDE + 1.0
    y1 = ys * PNET_STRIDE + 1.0
    size = PNET_CELL - 1.0
    boxes = np.stack([x1, y1, x1 + size, y1 + size], axis=1) + reg * size
    order = np.argsort(-scores, kind="stable")
    return boxes[order] / scale, scores[order]


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray, method: str = "union") -> np.ndarray:
    """IoU of one box with many ("union") or intersection over the smaller area ("min").

    Args:
        box: [4].
        boxes: [N, 4].
        method: "union" or "min".

    Returns:
        float64 [N].
    """
    return overlap_matrix(np.asarray(box)[None], boxes, method)[0]


def overlap_matrix(a: np.ndarray, b: np.ndarray, method: str = "union") -> np.ndarray:
    """Overlap of every box of ``a`` with every box of ``b`` (see ``iou_one_to_many``).

    Args:
        a: [M, 4].
        b: [N, 4].
        method: "union" or "min".

    Returns:
        float64 [M, N]; symmetric in its arguments, entry by entry.
    """
    a, b = a[:, None, :], b[None, :, :]
    iw = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    ih = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    if method == "union":
        denom = area_a + area_b - inter
    elif method == "min":
        denom = np.minimum(area_a, area_b)
    else:
        raise ValueError(f"method must be 'union' or 'min', got {method!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


# Boxes per block of ``nms``: bounds the overlap matrices at _NMS_BLOCK**2 entries.
_NMS_BLOCK = 256


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union"
) -> np.ndarray:
    """Greedy non-maximum suppression.

    Boxes are visited by decreasing score (ties in index order); each one is kept unless
    its overlap with an already kept box exceeds ``threshold``. The overlaps are computed
    in blocks of sorted boxes (kept boxes against the block, then the block against
    itself), so only the greedy walk over the block's boxes that overlap a later one
    runs in Python.

    Args:
        boxes: float [N, 4].
        scores: float [N].
        threshold: a box is dropped when its overlap with a kept, higher-scoring box
            exceeds this.
        method: overlap measure, "union" (IoU) or "min".

    Returns:
        int64 indices of the kept boxes, by decreasing score.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = np.asarray(boxes, np.float64)[order]
    keep: list[int] = []
    for start in range(0, len(ranked), _NMS_BLOCK):
        block = ranked[start : start + _NMS_BLOCK]
        alive = np.ones(len(block), bool)
        if keep:
            alive &= ~(overlap_matrix(ranked[keep], block, method) > threshold).any(axis=0)
        # drops[i, j]: box i, if kept, drops the later box j. Only rows with a drop can
        # change ``alive``, so the walk visits those alone (most boxes drop nothing).
        drops = np.triu(overlap_matrix(block, block, method) > threshold, 1)
        for i in np.flatnonzero(drops.any(axis=1)):
            if alive[i]:
                alive &= ~drops[i]
        keep.extend((start + np.flatnonzero(alive)).tolist())
    return order[np.asarray(keep, dtype=np.int64)]


def square(boxes: np.ndarray) -> np.ndarray:
    """Grows each box to a square around its centre (side = the longer side)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + 0.5 * (w - side)
    y1 = boxes[:, 1] + 0.5 * (h - side)
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Applies R-Net/O-Net box offsets, given as fractions of (width + 1, height + 1)."""
    w = boxes[:, 2] - boxes[:, 0] + 1.0
    h = boxes[:, 3] - boxes[:, 1] + 1.0
    return boxes + offsets.astype(np.float64) * np.stack([w, h, w, h], axis=1)


def landmarks_to_pixels(boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Maps O-Net landmark outputs to image pixels.

    Args:
        boxes: float [N, 4], the boxes O-Net saw.
        landmarks: float [N, 10] as (x1..x5, y1..y5), fractions of the box.

    Returns:
        float64 [N, 5, 2] (x, y) pixels.
    """
    w = boxes[:, 2:3] - boxes[:, 0:1] + 1.0
    h = boxes[:, 3:4] - boxes[:, 1:2] + 1.0
    xs = w * landmarks[:, 0:5] + boxes[:, 0:1] - 1.0
    ys = h * landmarks[:, 5:10] + boxes[:, 1:2] - 1.0
    return np.stack([xs, ys], axis=2)
