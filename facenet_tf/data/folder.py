"""Aligned face folder trees ``{root}/{identity}/{image}``: listing and labelling."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facenet_tf.errors import InvalidInputError
from facenet_tf.io.files import list_images

PathLike = str | os.PathLike
# The one image format of ``facenet_tf.io.files.IMAGE_SUFFIXES`` that the tf.data decoder
# (``tf.io.decode_image`` in ``facenet_tf.data.ops.decode``) cannot read.
TF_UNREADABLE_SUFFIXES = (".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class ImageIndex:
    """Every image of a labelled face set.

    Attributes:
        paths: N file paths, grouped by identity (identities in ``class_names`` order,
            files sorted by name within an identity).
        labels: int32 [N], the index of each image's identity in ``class_names``.
        class_names: identity folder names, sorted; label ``i`` is ``class_names[i]``.
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """int64 [num_classes], images per identity."""
        return np.bincount(self.labels, minlength=self.num_classes)


def scan_folder_tree(roots: PathLike | Sequence[PathLike]) -> ImageIndex:
    """Lists the images of one or more folder trees ``{root}/{identity}/{image}``.

    Identity folders with the same name in several roots are the same person (e.g. the
    full- and half-size subsets of one data set), so their images are merged under one
    label. Images are what ``facenet_tf.io.files.list_images`` lists in each identity
    folder (hidden files and folders skipped) except TIFF files, which ``tf.data``
    cannot decode: they are left out with a warning. Other files are ignored.

    Args:
        roots: a root folder or a sequence of them.

    Returns:
        The index; labels follow the sorted identity names, so they do not depend on the
        order of ``roots`` or on the file system's listing order.

    Raises:
        InvalidInputError: a root is missing or not a folder, or no image was found.
    """
    if isinstance(roots, str | os.PathLike):
        roots = [roots]
    by_identity: dict[str, list[str]] = {}
    unreadable: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise InvalidInputError(f"data_dir {root}: no such folder")
        for entry in os.scandir(root):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            files = []
            for path in list_images(entry.path, recursive=False):
                if path.suffix.lower() in TF_UNREADABLE_SUFFIXES:
                    unreadable.append(path)
                else:
                    files.append(str(path))
            if files:
                by_identity.setdefault(entry.name, []).extend(files)
    if unreadable:
        logging.warning(
            "left out %d TIFF images that tf.data cannot decode (first: %s); convert them "
            "to PNG to use them",
            len(unreadable),
            unreadable[0],
        )
    if not by_identity:
        raise InvalidInputError(
            f"data_dir {', '.join(str(r) for r in roots)}: no images in "
            "{identity}/{image} sub-folders"
        )
    names = sorted(by_identity)
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        files = sorted(by_identity[name], key=lambda p: (os.path.basename(p), p))
        paths.extend(files)
        labels.extend([label] * len(files))
    return ImageIndex(tuple(paths), np.asarray(labels, np.int32), tuple(names))
