"""Frozen copy of the MTCNN detector as it was before the pyramid was packed.

It is the reference the current ``facenet_tf.align.detector`` is compared with (same
faces, landmarks and boxes) and timed against in ``benchmarks/detect_photos.py``: the
cascade (one P-Net call per pyramid level, greedy NumPy NMS, batched R-Net / O-Net) and
the box operations of ``facenet_tf.align.boxes`` at that time, copied verbatim so later
changes to either module do not move the reference.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from facenet_tf.align.mtcnn_networks import load_mtcnn_networks
from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.io.images import read_image, to_rgb_uint8

B = sys.modules[__name__]  # the frozen box operations at the end of this module

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Largest number of pixels (summed over images) run through one P-Net pyramid call;
# bounds memory on large photos while keeping LFW-sized batches in one call.
_MAX_BATCH_PIXELS = 4_000_000


@dataclasses.dataclass(frozen=True, eq=False)  # eq would compare arrays element-wise
class Face:
    """One detection in image pixels.

    Attributes:
        box: (x1, y1, x2, y2); may extend a little past the image border.
        score: O-Net face probability in [0, 1].
        landmarks: float64 [5, 2] (x, y) of left eye, right eye, nose, mouth left, mouth
            right (left/right as seen in the image).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: ``box`` [x1, y1, x2, y2], ``score``, ``landmarks``
        {name: [x, y]}, all plain Python floats."""
        return {
            "box": [float(v) for v in self.box],
            "score": float(self.score),
            "landmarks": {
                name: [float(self.landmarks[i, 0]), float(self.landmarks[i, 1])]
                for i, name in enumerate(LANDMARK_NAMES)
            },
        }


def as_rgb_image(image: Any, name: str = "image") -> np.ndarray:
    """Reads a path or validates an array; returns uint8 [H, W, 3] RGB."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        if isinstance(image, bytes):
            raise InvalidInputTypeError(f"{name}: pass a file path or an array, not bytes")
        return read_image(image)
    if isinstance(image, (np.ndarray, tf.Tensor)) or hasattr(image, "__array__"):
        return to_rgb_uint8(np.asarray(image), name)
    raise InvalidInputTypeError(
        f"{name}: expected a file path or an image array, got {type(image).__name__}"
    )


class MTCNNDetector:
    """Three-stage MTCNN face detector with batched inference.

    Args:
        min_face_size: smallest face side (pixels) the pyramid looks for.
        scale_factor: ratio between pyramid levels, in (0, 1).
        thresholds: face-probability thresholds of P-Net, R-Net and O-Net.
        nms_thresholds: overlap thresholds of NMS within one P-Net level, across P-Net
            levels, after R-Net (IoU) and after O-Net (intersection over the smaller box).
        batch_size: images per batch in ``detect_batch``.
    """

    def __init__(
        self,
        min_face_size: float = 20.0,
        scale_factor: float = 0.709,
        thresholds: Sequence[float] = (0.6, 0.7, 0.8),
        nms_thresholds: Sequence[float] = (0.5, 0.7, 0.7, 0.7),
        batch_size: int = 32,
    ):
        if not min_face_size >= 12:
            raise InvalidInputError(f"min_face_size must be >= 12, got {min_face_size}")
        if not 0.0 < scale_factor < 1.0:
            raise InvalidInputError(f"scale_factor must lie in (0, 1), got {scale_factor}")
        if len(thresholds) != 3 or len(nms_thresholds) != 4:
            raise InvalidInputError("thresholds needs 3 values and nms_thresholds 4")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.min_face_size = float(min_face_size)
        self.scale_factor = float(scale_factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.nms_thresholds = tuple(float(t) for t in nms_thresholds)
        self.batch_size = int(batch_size)
        nets = load_mtcnn_networks()
        self._pnet_model, self._rnet_model, self._onet_model = (
            nets["pnet"],
            nets["rnet"],
            nets["onet"],
        )
        self._pnet = tf.function(
            self._pnet_level,
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.uint8),
                tf.TensorSpec([2], tf.int32),
            ],
        )
        self._rnet = tf.function(
            lambda x: self._rnet_model(x, training=False),
            input_signature=[tf.TensorSpec([None, 24, 24, 3], tf.float32)],
        )
        self._onet = tf.function(
            lambda x: self._onet_model(x, training=False),
            input_signature=[tf.TensorSpec([None, 48, 48, 3], tf.float32)],
        )

    def _pnet_level(self, images: tf.Tensor, size: tf.Tensor):
        x = tf.image.resize(tf.cast(images, tf.float32), size, method="area")
        reg, prob = self._pnet_model(x, training=False)
        return reg, prob[..., 1]

    # --- public API -------------------------------------------------------------------

    def detect(self, image: Any) -> list[dict[str, Any]]:
        """Detects faces in one image.

        Args:
            image: file path, or array [H, W, 3] / [H, W] (see ``to_rgb_uint8``).

        Returns:
            One dict per face, by decreasing score (see ``Face.to_dict``); empty when no face.

        Raises:
            ImageReadError: unreadable file. InvalidInputError / InvalidInputTypeError: bad
                array.
        """
        return [f.to_dict() for f in self.detect_faces([as_rgb_image(image)])[0]]

    def detect_batch(self, images: Sequence[Any]) -> list[list[dict[str, Any]]]:
        """Detects faces in several images (paths or arrays, any mix of sizes).

        Returns:
            One list of dicts per image, as ``detect`` returns.
        """
        arrays = [as_rgb_image(im, f"images[{i}]") for i, im in enumerate(images)]
        return [[f.to_dict() for f in faces] for faces in self.detect_faces(arrays)]

    def detect_faces(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Core batched detection on decoded images.

        Args:
            images: uint8 [H, W, 3] RGB arrays.

        Returns:
            Per image, its ``Face`` list by decreasing score.
        """
        results: list[list[Face]] = []
        for start in range(0, len(images), self.batch_size):
            results.extend(self._detect_chunk(images[start : start + self.batch_size]))
        return results

    # --- the cascade ------------------------------------------------------------------

    def _groups(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """Indices of equally shaped images, split so each group stays under the pixel cap."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape, []).append(i)
        groups = []
        for shape, idx in by_shape.items():
            per = max(1, _MAX_BATCH_PIXELS // max(1, shape[0] * shape[1]))
            groups.extend(idx[k : k + per] for k in range(0, len(idx), per))
        return groups

    def _detect_chunk(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        groups = self._groups(images)
        stacks = [tf.constant(np.stack([images[i] for i in g])) for g in groups]
        proposals = [np.zeros((0, 4))] * len(images)
        for g, stack in zip(groups, stacks, strict=True):
            for i, boxes in zip(g, self._stage_pnet(stack), strict=True):
                proposals[i] = boxes
        candidates = self._stage_rnet(groups, stacks, proposals)
        return self._stage_onet(groups, stacks, candidates)

    def _stage_pnet(self, stack: tf.Tensor) -> list[np.ndarray]:
        n, h, w = int(stack.shape[0]), int(stack.shape[1]), int(stack.shape[2])
        thr, nms_level, nms_all = self.thresholds[0], *self.nms_thresholds[:2]
        per_image: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        for scale in B.pyramid_scales(h, w, self.min_face_size, self.scale_factor):
            size = B.scaled_size(h, w, scale)
            reg, prob = self._pnet(stack, tf.constant(size, tf.int32))
            reg, prob = reg.numpy(), prob.numpy()
            for i in range(n):
                boxes, scores = B.pnet_proposals(reg[i], prob[i], scale, thr)
                if len(boxes):
                    keep = B.nms(boxes, scores, nms_level)
                    per_image[i].append((boxes[keep], scores[keep]))
        out = []
        for levels in per_image:
            if not levels:
                out.append(np.zeros((0, 4)))
                continue
            boxes = np.concatenate([b for b, _ in levels])
            scores = np.concatenate([s for _, s in levels])
            out.append(B.square(boxes[B.nms(boxes, scores, nms_all)]))
        return out

    @staticmethod
    def _crops(groups, stacks, boxes_per_image, size: int) -> tf.Tensor:
        """Bilinear crops of every candidate box, image by image in ``groups`` order.

        Returns:
            float32 [N, size, size, 3] pixels.
        """
        crops = []
        for g, stack in zip(groups, stacks, strict=True):
            h, w = float(stack.shape[1]), float(stack.shape[2])
            rows, idx = [], []
            for k, i in enumerate(g):
                b = boxes_per_image[i]
                if len(b):
                    # Normalised by H and W (not H - 1, W - 1), as the mtcnn package does.
                    rows.append(b[:, [1, 0, 3, 2]] / np.array([h, w, h, w]))
                    idx.append(np.full(len(b), k, np.int32))
            if rows:
                crops.append(
                    tf.image.crop_and_resize(
                        tf.cast(stack, tf.float32),
                        np.concatenate(rows).astype(np.float32),
                        np.concatenate(idx),
                        (size, size),
                        extrapolation_value=127.5,  # mid-grey: 0 after normalisation
                    )
                )
        return tf.concat(crops, 0) if crops else tf.zeros((0, size, size, 3))

    def _stage_rnet(self, groups, stacks, proposals) -> list[np.ndarray]:
        patches = self._crops(groups, stacks, proposals, 24)
        out = [np.zeros((0, 4))] * len(proposals)
        if patches.shape[0] == 0:
            return out
        reg, prob = (t.numpy() for t in _padded(self._rnet, patches))
        start = 0
        for i in (i for g in groups for i in g):
            n = len(proposals[i])
            if n == 0:
                continue
            r, p = reg[start : start + n], prob[start : start + n, 1]
            start += n
            ok = p > self.thresholds[1]
            if not ok.any():
                continue
            boxes = B.regress(proposals[i][ok], r[ok])
            out[i] = B.square(boxes[B.nms(boxes, p[ok], self.nms_thresholds[2])])
        return out

    def _stage_onet(self, groups, stacks, candidates) -> list[list[Face]]:
        patches = self._crops(groups, stacks, candidates, 48)
        out: list[list[Face]] = [[] for _ in candidates]
        if patches.shape[0] == 0:
            return out
        reg, lms, prob = (t.numpy() for t in _padded(self._onet, patches))
        start = 0
        for i in (i for g in groups for i in g):
            n = len(candidates[i])
            if n == 0:
                continue
            sl = slice(start, start + n)
            start += n
            ok = prob[sl, 1] > self.thresholds[2]
            if not ok.any():
                continue
            seen = candidates[i][ok]
            points = B.landmarks_to_pixels(seen, lms[sl][ok].astype(np.float64))
            boxes = B.regress(seen, reg[sl][ok])
            scores = prob[sl, 1][ok].astype(np.float64)
            keep = B.nms(boxes, scores, self.nms_thresholds[3], method="min")
            out[i] = [Face(tuple(boxes[k].tolist()), float(scores[k]), points[k]) for k in keep]
        return out


def _padded(net, patches: tf.Tensor) -> list[tf.Tensor]:
    """``net(patches)`` with the batch zero-padded to a power of two (at least 16): the
    candidate count changes with every batch of photos, and a bounded set of shapes
    keeps the kernels' per-shape caches (and so memory) from growing over a long run.
    Rows are independent, so the padding changes no output."""
    n = int(patches.shape[0])
    size = max(16, 1 << (n - 1).bit_length())
    if size != n:
        patches = tf.concat([patches, tf.zeros([size - n, *patches.shape[1:]], patches.dtype)], 0)
    return [t[:n] for t in net(patches)]


# --- box operations (frozen copy of facenet_tf.align.boxes) ---------------------------

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
    iw = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
    ih = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if method == "union":
        denom = area + areas - inter
    elif method == "min":
        denom = np.minimum(area, areas)
    else:
        raise ValueError(f"method must be 'union' or 'min', got {method!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union"
) -> np.ndarray:
    """Greedy non-maximum suppression.

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
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[i], boxes[rest], method) <= threshold]
    return np.asarray(keep, dtype=np.int64)


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
