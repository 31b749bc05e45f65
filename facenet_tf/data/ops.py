"""Pure tf.data preprocessing and augmentation ops: each maps a feature dict to a new dict.

Every op factory returns ``fn(data) -> data`` built only from TensorFlow graph ops (no
``py_function``), with static output shapes where the input allows, so the same function
runs eagerly, inside ``Dataset.map`` and in a TPU host input pipeline, with identical
results.

Randomness is stateless: a random op reads the per-example seed ``data["seed"]`` (int64
[2]) and folds in its own ``salt``, so an example's augmentation depends only on
(dataset seed, step, position in the batch) and never on thread scheduling or on how
many examples came before it. Two random ops of the same kind in one chain need
different salts.

Images are float32 RGB pixel values in [0, 255], shape [H, W, 3], the models' input
convention; ``decode`` produces uint8 which ``crop_and_resize`` turns into float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from facenet_tf.errors import InvalidInputError

Features = dict[str, tf.Tensor]
Op = Callable[[Features], Features]

# Normalised face box (y1, x1, y2, x2) covering the whole image.
FULL_BOX = (0.0, 0.0, 1.0, 1.0)


def fold_seed(seed: tf.Tensor, *values) -> tf.Tensor:
    """Derives a new stateless seed from ``seed`` and integers (the order matters).

    Args:
        seed: int64 [2].
        *values: int scalars (Python or tensors).

    Returns:
        int64 [2].
    """
    seed = tf.cast(seed, tf.int64)
    for v in values:
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(v, tf.int64))
    return seed


def base_seed(seed: int) -> tf.Tensor:
    """The int64 [2] root seed of a pipeline seeded with the integer ``seed``."""
    return tf.constant([seed, 0x5EED], tf.int64)


def _with(data: Features, **updates) -> Features:
    out = dict(data)
    out.update(updates)
    return out


def _check_box(box: Sequence[float], name: str = "box") -> tuple[float, float, float, float]:
    if len(box) != 4:
        raise InvalidInputError(f"{name}: expected (y1, x1, y2, x2), got {tuple(box)}")
    y1, x1, y2, x2 = (float(v) for v in box)
    if not (y2 > y1 and x2 > x1):
        raise InvalidInputError(f"{name}: needs y2 > y1 and x2 > x1, got {tuple(box)}")
    return y1, x1, y2, x2


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise InvalidInputError(f"size: expected (height, width) >= 1, got {tuple(size)}")
    return int(size[0]), int(size[1])


def decode(key: str = "encoded", out: str = "image") -> Op:
    """Decodes JPEG/PNG/BMP/GIF bytes ``data[key]`` into uint8 [H, W, 3] ``data[out]``.

    The encoded bytes are dropped from the result (they are no longer needed and would
    only travel through the rest of the pipeline).
    """

    def fn(data: Features) -> Features:
        image = tf.io.decode_image(data[key], channels=3, expand_animations=False)
        result = {k: v for k, v in data.items() if k != key}
        result[out] = image
        return result

    return fn


def crop_and_resize(size: Sequence[int], box: Sequence[float] = FULL_BOX) -> Op:
    """Crops the normalised ``box`` (y1, x1, y2, x2) out of the image and resizes it.

    Bilinear, like ``tf.image.crop_and_resize``; coordinates are fractions of the image
    height and width, so one box fits the full- and half-size versions of an aligned set.

    Returns:
        An op producing float32 [size[0], size[1], 3] in [0, 255].
    """
    size = _check_size(size)
    box = _check_box(box)

    def fn(data: Features) -> Features:
        image = tf.cast(data["image"], tf.float32)[None]
        crop = tf.image.crop_and_resize(image, [box], [0], size, method="bilinear")[0]
        return _with(data, image=crop)

    return fn


def random_crop_and_resize(
    size: Sequence[int],
    box: Sequence[float] = FULL_BOX,
    scale: Sequence[float] = (0.85, 1.0),
    salt: int = 1,
) -> Op:
    """Random square-ish sub-crop of ``box``, resized to ``size`` (the "random crop").

    The sub-crop's side is ``s`` times the box's side, ``s`` uniform in ``scale``, and
    its position is uniform inside the box, so the face keeps its aspect ratio and only
    its scale (up to 1/s) and position change.

    Returns:
        An op producing float32 [size[0], size[1], 3] in [0, 255].
    """
    size = _check_size(size)
    y1, x1, y2, x2 = _check_box(box)
    lo, hi = (float(v) for v in scale)
    if not 0.0 < lo <= hi <= 1.0:
        raise InvalidInputError(f"scale: expected 0 < min <= max <= 1, got {tuple(scale)}")

    def fn(data: Features) -> Features:
        u = tf.random.stateless_uniform([3], fold_seed(data["seed"], salt), dtype=tf.float32)
        s = lo + (hi - lo) * u[0]
        h, w = (y2 - y1) * s, (x2 - x1) * s
        top = y1 + (y2 - y1 - h) * u[1]
        left = x1 + (x2 - x1 - w) * u[2]
        boxes = tf.stack([top, left, top + h, left + w])[None]
        image = tf.cast(data["image"], tf.float32)[None]
        crop = tf.image.crop_and_resize(image, boxes, [0], size, method="bilinear")[0]
        return _with(data, image=crop)

    return fn


def random_flip(prob: float = 0.5, salt: int = 2) -> Op:
    """Mirrors the image left-right with probability ``prob``."""

    def fn(data: Features) -> Features:
        u = tf.random.stateless_uniform([], fold_seed(data["seed"], salt))
        image = data["image"]
        flipped = tf.cond(u < prob, lambda: tf.reverse(image, axis=[1]), lambda: image)
        return _with(data, image=flipped)

    return fn


def random_brightness(max_delta: float = 32.0, salt: int = 3) -> Op:
    """Adds one offset uniform in [-max_delta, max_delta] (pixel units) to every pixel."""

    def fn(data: Features) -> Features:
        delta = tf.random.stateless_uniform(
            [], fold_seed(data["seed"], salt), minval=-max_delta, maxval=max_delta
        )
        return _with(data, image=tf.cast(data["image"], tf.float32) + delta)

    return fn


def random_contrast(lower: float = 0.7, upper: float = 1.3, salt: int = 4) -> Op:
    """Scales each channel's deviation from its mean by a factor uniform in [lower, upper]."""
    if not 0.0 <= lower <= upper:
        raise InvalidInputError(f"contrast range: need 0 <= lower <= upper, got {lower}, {upper}")

    def fn(data: Features) -> Features:
        image = tf.cast(data["image"], tf.float32)
        factor = tf.random.stateless_uniform(
            [], fold_seed(data["seed"], salt), minval=lower, maxval=upper
        )
        mean = tf.reduce_mean(image, axis=[0, 1], keepdims=True)
        return _with(data, image=(image - mean) * factor + mean)

    return fn


def random_jpeg_quality(
    min_quality: int = 30, max_quality: int = 95, prob: float = 0.5, salt: int = 5
) -> Op:
    """With probability ``prob``, re-encodes the image as JPEG at a random quality.

    Mimics the compression of web photos (the paper's quality study: accuracy drops
    sharply below quality 20). Pixels are clipped to [0, 255] and rounded first, as a
    real encoder would see them.
    """
    if not 0 <= min_quality <= max_quality <= 100:
        raise InvalidInputError(
            f"jpeg quality: need 0 <= min <= max <= 100, got {min_quality}, {max_quality}"
        )

    def fn(data: Features) -> Features:
        seed = fold_seed(data["seed"], salt)
        image = tf.cast(data["image"], tf.float32)
        u = tf.random.stateless_uniform([], fold_seed(seed, 0))

        def reencode():
            pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
            quality = tf.random.stateless_uniform(
                [], fold_seed(seed, 1), min_quality, max_quality + 1, dtype=tf.int32
            )
            return tf.cast(tf.image.adjust_jpeg_quality(pixels, quality), tf.float32)

        out = tf.cond(u < prob, reencode, lambda: image)
        # Re-encoding keeps the size, but the decoder does not say so statically.
        return _with(data, image=tf.ensure_shape(out, image.shape))

    return fn


def clip_pixels() -> Op:
    """Clips pixel values to [0, 255] (float32), the range the models expect."""

    def fn(data: Features) -> Features:
        image = tf.clip_by_value(tf.cast(data["image"], tf.float32), 0.0, 255.0)
        return _with(data, image=image)

    return fn


def compose(*ops: Op) -> Op:
    """Chains ops left to right."""

    def fn(data: Features) -> Features:
        for op in ops:
            data = op(data)
        return data

    return fn
