"""MTCNN face detector: batched P-Net pyramid, R-Net and O-Net over whole batches.

The cascade follows Zhang et al. (2016) and the conventions of the ``mtcnn`` package
1.x whose weights we load (``mtcnn_networks``): the same pyramid, thresholds (0.6, 0.7,
0.8), box regression and landmark decoding, area-resized pyramid levels and bilinear
crops, so its landmarks and ours agree (median 0.4 px on LFW; the package rounds to
integers). Two deliberate differences:

* batching: the images of a batch that share a shape go through the whole P-Net pyramid
  in one call (one graph per pyramid depth, the level sizes an input, so never traced
  per image size), and the R-Net / O-Net candidates of all images of the batch go
  through a few calls of bucketed batch sizes; the networks run the Keras models'
  weights with cheaper activations (see "network inference" below), with the same
  outputs;
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
# Largest R-Net / O-Net batch per call (larger candidate sets run in several calls).
_MAX_RNET_BATCH = 512
_MAX_ONET_BATCH = 256


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
        self._pnet_forward = _pnet_forward(nets["pnet"])
        self._pyramids: dict[int, Any] = {}  # pyramid depth -> traced P-Net pyramid
        self._rnet = tf.function(
            _dense_head_forward(
                nets["rnet"], {"block1": (3, 2, "SAME"), "block2": (3, 2, "VALID")}
            ),
            input_signature=[tf.TensorSpec([None, 24, 24, 3], tf.float32)],
        )
        self._onet = tf.function(
            _dense_head_forward(
                nets["onet"],
                {"block1": (3, 2, "SAME"), "block2": (3, 2, "VALID"), "block3": (2, 2, "SAME")},
            ),
            input_signature=[tf.TensorSpec([None, 48, 48, 3], tf.float32)],
        )

    def _pyramid(self, depth: int):
        """The P-Net pyramid of ``depth`` levels as one graph: every level is resized from
        the uint8 images and run through P-Net in the same call, so the levels' ops run
        in parallel and no call is made per level. Traced once per depth (a dozen at
        most for photos up to 2048 pixels), never per image size: the level sizes are an
        input."""
        if depth not in self._pyramids:

            def pyramid(images, sizes):
                return [
                    self._pnet_forward(tf.image.resize(images, sizes[k], method="area"))
                    for k in range(depth)
                ]

            self._pyramids[depth] = tf.function(
                pyramid,
                input_signature=[
                    tf.TensorSpec([None, None, None, 3], tf.uint8),
                    tf.TensorSpec([depth, 2], tf.int32),
                ],
            )
        return self._pyramids[depth]

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
        scales = B.pyramid_scales(h, w, self.min_face_size, self.scale_factor)
        if not scales:
            return [np.zeros((0, 4))] * n
        sizes = np.array([B.scaled_size(h, w, s) for s in scales], np.int32)
        maps = [(z.numpy(), p.numpy()) for z, p in self._pyramid(len(scales))(stack, sizes)]
        out = []
        for i in range(n):
            levels = []
            for scale, (z, p) in zip(scales, maps, strict=True):
                boxes, scores = B.pnet_proposals(z[i, ..., :4], p[i, ..., 1], scale, thr)
                if len(boxes):
                    keep = B.nms(boxes, scores, nms_level)
                    levels.append((boxes[keep], scores[keep]))
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
                    tf.image.crop_and_resize(  # uint8 in, float32 out: no cast of the photo
                        stack,
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
        reg, prob = _bucketed(self._rnet, patches, _MAX_RNET_BATCH)
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
        reg, lms, prob = _bucketed(self._onet, patches, _MAX_ONET_BATCH)
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


def _bucket(n: int) -> int:
    """Padded batch size: the next multiple of 8 up to 64, then of 32."""
    step = 8 if n <= 64 else 32
    return max(step, -(-n // step) * step)


def _bucketed(net, patches: tf.Tensor, max_batch: int) -> list[np.ndarray]:
    """``net(patches)`` in chunks of at most ``max_batch`` rows, each zero-padded to
    ``_bucket`` rows: the candidate count changes with every batch of photos, and a small
    fixed set of shapes (22 up to 512 rows) keeps the compiled activations and the
    kernels' per-shape caches from growing, while padding wastes at most 7 rows of small
    batches and 31 of large ones (powers of two wasted up to half the batch). Rows are
    independent, so the padding changes no output."""
    n = int(patches.shape[0])
    parts = []
    for start in range(0, n, max_batch):
        part = patches[start : start + max_batch]
        m = int(part.shape[0])
        size = _bucket(m)
        if size != m:
            part = tf.concat([part, tf.zeros([size - m, *part.shape[1:]], part.dtype)], 0)
        parts.append([t.numpy()[:m] for t in net(part)])
    return [np.concatenate(outs) for outs in zip(*parts, strict=True)]


# --- network inference ----------------------------------------------------------------
# The Keras models hold the weights; these functions run the same layers with cheaper
# activations. Keras's PReLU, relu(x) - alpha * relu(-x), makes five passes over each
# activation map; the networks are small enough that those passes, not the
# convolutions, took most of the time (they still do in P-Net: on a 1280x720 photo its
# convolutions are about a third of the pyramid's time, the area resize, pooling,
# activations and softmax the rest). Every rewrite keeps the outputs bit for bit:
# scores saturated at 1.0 tie and NMS breaks ties by position, and a landmark moved by
# 1e-3 px moves a face's embedding by 1e-4 (folding the input normalisation into the
# first convolution, or a sigmoid for the two-class softmax, did both).


def _weights(model) -> dict[str, list[tf.Tensor]]:
    return {
        layer.name: [tf.constant(w) for w in layer.get_weights()]
        for layer in model.layers
        if layer.get_weights()
    }


def _prelu(alpha: tf.Tensor):
    """PReLU with the same values as Keras's: ``alpha * x`` for x < 0 is computed the same
    way, and max(x, alpha * x) selects it when every alpha <= 1 (two passes, not five)."""
    alpha = tf.reshape(alpha, [-1])
    if float(tf.reduce_max(alpha)) <= 1.0:
        return lambda x: tf.maximum(x, alpha * x)
    return lambda x: tf.where(x > 0, x, alpha * x)


@tf.function(jit_compile=True)
def _fused_prelu(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """PReLU as one compiled loop; for the fixed-shape R-Net and O-Net batches only (XLA
    compiles once per shape, so never for P-Net's image-sized maps)."""
    return tf.where(x > 0, x, alpha * x)


def _conv(x, kernel_bias):
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel_bias[0], 1, "VALID"), kernel_bias[1])


def _pnet_forward(model):
    """P-Net as a function of float32 [N, H, W, 3] pixels in [0, 255] returning float32
    ``(head [N, h, w, 6], probability [N, h, w, 2])``: the head's first 4 channels are the
    box offsets and probability[..., 1] is the face probability. The caller slices them
    (numpy views): slicing and concatenating in the graph copied the maps twice more."""
    w = _weights(model)
    acts = {b: _prelu(w[f"{b}_prelu"][0]) for b in ("block1", "block2", "block3")}
    head_kernel = tf.concat([w["box_regression"][0], w["face_probability"][0]], -1)
    head_bias = tf.concat([w["box_regression"][1], w["face_probability"][1]], 0)

    neg_alpha1 = -tf.reshape(w["block1_prelu"][0], [-1])

    def forward(x):
        x = (x - 127.5) * (1.0 / 128.0)  # PixelNormalization(127.5, 1 / 128)
        # Max-pool before PReLU: PReLU falls then rises (or only rises), so its largest
        # value over a window is at the window's maximum or minimum; the same values as
        # pooling the activation, with the activation on a quarter of the pixels. The
        # minimum counts only where it is negative, as alpha * min: for alpha < 0 that is
        # PReLU(min), for alpha >= 0 it never exceeds PReLU(max), and a minimum >= 0 never
        # beats the maximum; written alpha * min(low, 0) = -alpha * relu(-low).
        z = _conv(x, w["block1_conv"])
        high = tf.nn.max_pool2d(z, 2, 2, "SAME")
        neg_low = tf.nn.max_pool2d(-z, 2, 2, "SAME")
        x = tf.maximum(acts["block1"](high), neg_alpha1 * tf.nn.relu(neg_low))
        x = acts["block2"](_conv(x, w["block2_conv"]))
        x = acts["block3"](_conv(x, w["block3_conv"]))
        z = _conv(x, (head_kernel, head_bias))
        # The softmax as the Keras model computes it (not a sigmoid of the logit
        # difference, which rounds differently): saturated scores tie at exactly 1.0, and
        # NMS breaks those ties by position, so other rounding can pick another box.
        return z, tf.nn.softmax(z[..., 4:])

    return forward


def _dense_head_forward(model, pools: dict[str, tuple[int, int, str]]):
    """R-Net or O-Net as a function of float32 [N, S, S, 3] pixels in [0, 255] returning
    the model's outputs (box offsets, [landmarks,] face probabilities)."""
    w = _weights(model)
    blocks = [n[: -len("_conv")] for n in w if n.startswith("block") and n.endswith("_conv")]
    heads = [n for n in ("box_regression", "landmarks") if n in w]
    fc_act = _prelu(w["fc_prelu"][0])

    def forward(x):
        x = (x - 127.5) * (1.0 / 128.0)
        for b in blocks:
            x = _fused_prelu(_conv(x, w[f"{b}_conv"]), tf.reshape(w[f"{b}_prelu"][0], [-1]))
            if b in pools:
                x = tf.nn.max_pool2d(x, *pools[b])
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        x = fc_act(tf.matmul(x, w["fc"][0]) + w["fc"][1])
        outs = [tf.matmul(x, w[h][0]) + w[h][1] for h in heads]
        kernel, bias = w["face_probability"]
        return [*outs, tf.nn.softmax(tf.matmul(x, kernel) + bias)]

    return forward


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
