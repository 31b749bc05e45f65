"""User input to pixels: splitting what ``embed`` accepts into named images, reading or
validating each one, and resizing to a model's input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from facenet_tf.errors import InvalidInputError, InvalidInputTypeError
from facenet_tf.io.images import read_image, to_rgb_float32, to_rgb_uint8

ImageLike = str | os.PathLike | np.ndarray


def as_image_list(images: Any) -> list[tuple[str, Any]]:
    """Splits user input into (name, item) pairs, one per image, in order.

    Accepts a path, an array [H, W, C] or [H, W] (one image), an array [N, H, W, C]
    (a batch), a tf.Tensor, or a list/tuple of paths and arrays. Names are what error
    messages use: the path, or ``images[i]``.
    """
    if isinstance(images, tf.Tensor):
        images = images.numpy()
    if isinstance(images, str | os.PathLike):
        return [(os.fspath(images), images)]
    if isinstance(images, np.ndarray):
        if images.dtype == object:
            images = list(images)
        elif images.ndim == 4:
            if images.shape[0] == 0:
                raise InvalidInputError(f"images: empty batch (shape {images.shape})")
            return [(f"images[{i}]", img) for i, img in enumerate(images)]
        elif images.ndim in (2, 3):
            return [("image", images)]
        else:
            raise InvalidInputError(
                f"images: expected [H, W], [H, W, C] or [N, H, W, C], got shape {images.shape}"
            )
    if isinstance(images, Sequence) and not isinstance(images, bytes):
        if len(images) == 0:
            raise InvalidInputError("images: empty batch (no images given)")
        items = []
        for i, item in enumerate(images):
            if isinstance(item, str | os.PathLike):
                items.append((os.fspath(item), item))
            elif isinstance(item, np.ndarray | tf.Tensor):
                items.append((f"images[{i}]", np.asarray(item)))
            else:
                raise InvalidInputTypeError(
                    f"images[{i}]: expected a file path or an image array, got {type(item).__name__}"
                )
        return items
    raise InvalidInputTypeError(
        f"images: expected a path, an image array or a list of them, got {type(images).__name__}"
    )


def load_rgb(name: str, item: Any) -> np.ndarray:
    """Reads or validates one item as float32 [H, W, 3] pixels in [0, 255]."""
    if isinstance(item, str | os.PathLike):
        return read_image(item).astype(np.float32)
    return to_rgb_float32(item, name)


def load_rgb_uint8(name: str, item: Any) -> np.ndarray:
    """Reads or validates one item as uint8 [H, W, 3] RGB (floats rounded): a quarter of
    the memory of ``load_rgb``, for photos that go to the detector."""
    if isinstance(item, str | os.PathLike):
        return read_image(item)
    return to_rgb_uint8(item, name)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes float32 [H, W, 3] to ``size`` = (height, width); area filter when shrinking."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = image.shape[0] > h or image.shape[1] > w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)
