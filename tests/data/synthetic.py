"""Small synthetic face trees for data and training tests (no real data needed).

Every identity has its own colour, so a test can tell from the pixels alone which
identity's file was loaded, and a tiny network learns to separate identities in a few
dozen steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

# Images per identity: includes identities with fewer images than a typical K (1, 2, 3).
DEFAULT_COUNTS = (1, 2, 3, 4, 5, 6, 6, 6)


def identity_colour(label: int) -> np.ndarray:
    """A distinct RGB colour (uint8 [3]) for identity ``label`` (0 <= label < 27)."""
    levels = np.array([40, 128, 215])
    return np.array([levels[label % 3], levels[(label // 3) % 3], levels[(label // 9) % 3]])


def write_face_tree(
    root: Path,
    counts: Sequence[int] = DEFAULT_COUNTS,
    size: tuple[int, int] = (40, 36),
    ext: str = ".png",
    seed: int = 0,
) -> list[list[Path]]:
    """Writes ``root/id_{label:02d}/img_{j:02d}{ext}``: identity colour plus a little noise.

    Returns:
        The written paths, one list per identity.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for label, n in enumerate(counts):
        folder = root / f"id_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for j in range(n):
            noise = rng.integers(-12, 13, size=(*size, 3))
            rgb = np.clip(identity_colour(label)[None, None] + noise, 0, 255).astype(np.uint8)
            # A bright square at an image-specific place makes images of one identity differ.
            y, x = rng.integers(0, size[0] - 8), rng.integers(0, size[1] - 8)
            rgb[y : y + 8, x : x + 8] = 250
            path = folder / f"img_{j:02d}{ext}"
            cv2.imwrite(str(path), rgb[..., ::-1])
            files.append(path)
        paths.append(files)
    return paths


def label_from_pixels(image: np.ndarray) -> int:
    """Recovers the identity from an image's median colour (inverse of ``identity_colour``)."""
    median = np.median(np.asarray(image, np.float64).reshape(-1, 3), axis=0)
    level = np.abs(median[:, None] - np.array([40, 128, 215])[None]).argmin(axis=1)
    return int(level[0] + 3 * level[1] + 9 * level[2])


def write_lfw_tree(root: Path, names: Sequence[str], size: int = 30) -> Path:
    """An LFW-style tree ``{name}/{name}_000i.jpg`` (2 images each) and its pair file.

    The pair file (view-1 layout) holds one matched pair per name and mismatched pairs
    between neighbouring names.

    Returns:
        The path of ``pairsDevTest.txt`` inside ``root``.
    """
    for label, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in (1, 2):
            image = np.broadcast_to(identity_colour(label), (size, size, 3)).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{name}_{i:04d}.jpg"), image[..., ::-1])
    n = len(names) - 1
    lines = [str(n)]
    lines += [f"{name}\t1\t2" for name in names[:n]]
    lines += [f"{names[i]}\t1\t{names[i + 1]}\t2" for i in range(n)]
    pairs = root / "pairsDevTest.txt"
    pairs.write_text("\n".join(lines) + "\n")
    return pairs
