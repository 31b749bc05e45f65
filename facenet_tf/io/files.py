"""Finding image files in folders: the one lister every binary and library uses.

One rule for what counts: a file whose suffix (any case) is in ``IMAGE_SUFFIXES``, the
formats ``facenet_tf.io.images.read_image`` decodes; names starting with "." (hidden
files and folders, editor and OS droppings such as ``._a.jpg``) are skipped at every
level below the root. Symbolic links to folders are not followed, so a link loop cannot
make a listing endless.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def is_image_name(name: str) -> bool:
    """Whether a file name counts as an image: not hidden, suffix in ``IMAGE_SUFFIXES``."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def list_images(root: PathLike, recursive: bool = True) -> list[Path]:
    """The image files in ``root``, sorted.

    Args:
        root: the folder to list (it may itself be a hidden folder).
        recursive: also list the sub-folders, at any depth, skipping hidden ones.

    Returns:
        Paths below ``root`` (``root / relative``), sorted by their components, so a
        folder's files stay together; empty when the folder holds no image.

    Raises:
        InvalidInputError: ``root`` does not exist or is not a folder; the message names it.
    """
    folder = Path(root)
    if not folder.is_dir():
        reason = "not a folder" if folder.exists() else "no such folder"
        raise InvalidInputError(f"image folder {folder}: {reason}")
    found: list[Path] = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found.extend(Path(parent, f) for f in files if is_image_name(f))
    return sorted(found, key=lambda p: p.parts)


def check_writable(path: str | os.PathLike, flag: str = "--output") -> None:
    """Checks, creating nothing, that ``path`` (a file or folder to be written) can be
    made: its nearest existing ancestor must be a folder where a file can be written.

    A probe file is written and removed there: permission bits alone do not tell (root
    writes through them; a read-only mount refuses everyone).

    Raises:
        InvalidInputError: the message names the flag, the path and the reason.
    """
    path = Path(path).absolute()
    if path.is_dir():
        base = path
    else:
        base = path.parent
        while not base.exists() and not base.is_symlink() and base != base.parent:
            base = base.parent
        if not base.is_dir():
            raise InvalidInputError(f"{flag} {path}: cannot be created, {base} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".facenet-tf-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InvalidInputError(
            f"{flag} {path}: cannot write in {base} ({err.strerror or err})"
        ) from None
