"""MTCNN face detector: batched P-Net pyramid, R-Net and O-Net over whole batches.

The cascade follows Zhang et al. (2016) and the conventions of the ``mtcnn`` package
1.x whose weights we load (``mtcnn_networks``): the same pyramid, thresholds (0.6, 0.7,
0.8), box regression and landmark decoding, area-resized pyramid levels and bilinear
crops, so its landmarks and ours agree (median 0.4 px on LFW; the package rounds to
integers). Two deliberate differences:

* batching: every image of a batch that shares a shape goes through each pyramid level
  in one P-Net call, and the R-Net / O-Net candidates of all images of the batch go
  through one call each; the networks run as ``tf.function``s traced once for any size;
* NMS is the standard greedy one (``boxes.nms``); the package's variant also lets boxes
  that were already suppressed suppress others, which occasionally drops a face.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from facenet_tf.align import boxes as B
from facenet_tf.align.mtcnn_networks import load_mtcnn_networks
from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.io.images import read_image, to_rgb_uint8

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


_DEFAULT: MTCNNDetector | None = None
_LOCK = threading.Lock()


def default_detector() -> MTCNNDetector:
    """The shared detector with default settings, built on first use."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = MTCNNDetector()
        return _DEFAULT


def detect(image: Any) -> list[dict[str, Any]]:
    """Detects faces with MTCNN.

    Args:
        image: file path, or RGB array [H, W, 3] (uint8, or float in [0, 1] / [0, 255]),
            or grayscale [H, W].

    Returns:
        One JSON-serialisable dict per face, by decreasing score::

            {"box": [x1, y1, x2, y2], "score": 0.999,
             "landmarks": {"left_eye": [x, y], "right_eye": [x, y], "nose": [x, y],
                           "mouth_left": [x, y], "mouth_right": [x, y]}}

        Coordinates are float pixels (x right, y down); "left" means left in the image.
        Empty list when there is no face.

    Raises:
        ImageReadError: unreadable file (the message names it).
        InvalidInputError, InvalidInputTypeError: malformed array.
    """
    return default_detector().detect(image)
