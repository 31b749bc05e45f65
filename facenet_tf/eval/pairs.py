"""Readers for verification pair lists: LFW ``pairs.txt`` (view 2), ``pairsDevTrain.txt`` /
``pairsDevTest.txt`` (view 1) and YouTube Faces ``splits.txt``.

LFW layout: the first line is either ``folds<TAB>n`` (view 2: ``folds`` blocks of ``n``
matched then ``n`` mismatched pairs) or ``n`` (view 1: one block of ``n`` matched then
``n`` mismatched pairs). A matched line is ``name i j``, a mismatched line
``name1 i name2 j``; image ``i`` of ``name`` is ``{name}/{name}_{i:04d}.jpg``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class Pair:
    """One verification pair.

    Attributes:
        name1, index1: identity and 1-based image number of the first image.
        name2, index2: the same for the second image (``name2 == name1`` when matched).
        issame: True for a matched (same identity) pair.
        fold: 0-based fold the pair belongs to.
    """

    name1: str
    index1: int
    name2: str
    index2: int
    issame: bool
    fold: int


@dataclasses.dataclass(frozen=True)
class PairList:
    """A parsed pair file.

    Attributes:
        pairs: the pairs in file order.
        num_folds: number of folds (1 for view-1 files).
        pairs_per_fold: matched pairs per fold (the same number of mismatched follow).
        source: the file it came from.
    """

    pairs: tuple[Pair, ...]
    num_folds: int
    pairs_per_fold: int
    source: str = ""

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def issame(self) -> list[bool]:
        """Matched flags, one per pair."""
        return [p.issame for p in self.pairs]

    @property
    def folds(self) -> list[int]:
        """0-based fold index, one per pair."""
        return [p.fold for p in self.pairs]

    def image_keys(self) -> list[tuple[str, int]]:
        """Distinct (name, index) images the pairs refer to, in first-use order."""
        seen: dict[tuple[str, int], None] = {}
        for p in self.pairs:
            seen.setdefault((p.name1, p.index1), None)
            seen.setdefault((p.name2, p.index2), None)
        return list(seen)


def lfw_image_path(lfw_dir: PathLike, name: str, index: int, ext: str = "jpg") -> Path:
    """Path of image ``index`` (1-based) of ``name`` in an LFW tree: ``name/name_0001.jpg``."""
    return Path(lfw_dir) / name / f"{name}_{index:04d}.{ext}"


def _parse_int(token: str, what: str, where: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InvalidInputError(f"{where}: {what} {token!r} is not an integer") from None


def read_lfw_pairs(path: PathLike) -> PairList:
    """Parses an LFW pair file (view 2 ``pairs.txt`` or view 1 ``pairsDev*.txt``).

    Args:
        path: the pair file.

    Returns:
        The pairs, with fold indices and matched flags.

    Raises:
        InvalidInputError: missing file, bad header, malformed line, wrong number of lines,
            or a block whose matched/mismatched layout disagrees with the header.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"pairs file {p}: no such file")
    lines = [ln.split() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise InvalidInputError(f"pairs file {p}: empty")
    header = lines[0]
    if len(header) == 2:
        num_folds = _parse_int(header[0], "fold count", f"{p}:1")
        per_fold = _parse_int(header[1], "pairs per fold", f"{p}:1")
    elif len(header) == 1:
        num_folds, per_fold = 1, _parse_int(header[0], "pair count", f"{p}:1")
    else:
        raise InvalidInputError(f"{p}:1: header must be 'folds<TAB>n' or 'n', got {header}")
    if num_folds < 1 or per_fold < 1:
        raise InvalidInputError(f"{p}:1: header values must be positive, got {header}")
    body = lines[1:]
    expected = 2 * num_folds * per_fold
    if len(body) != expected:
        raise InvalidInputError(
            f"pairs file {p}: header promises {expected} pairs "
            f"({num_folds} folds x {per_fold} x 2), found {len(body)} lines"
        )
    pairs = []
    for k, tokens in enumerate(body):
        where = f"{p}:{k + 2}"
        fold, within = divmod(k, 2 * per_fold)
        matched = within < per_fold
        if matched:
            if len(tokens) != 3:
                raise InvalidInputError(
                    f"{where}: a matched pair line needs 'name i j', got {tokens}"
                )
            name, i, j = tokens
            pairs.append(
                Pair(name, _parse_int(i, "index", where), name,
                     _parse_int(j, "index", where), True, fold)
            )  # fmt: skip
        else:
            if len(tokens) != 4:
                raise InvalidInputError(
                    f"{where}: a mismatched pair line needs 'name1 i name2 j', got {tokens}"
                )
            n1, i, n2, j = tokens
            pairs.append(
                Pair(n1, _parse_int(i, "index", where), n2,
                     _parse_int(j, "index", where), False, fold)
            )  # fmt: skip
    return PairList(tuple(pairs), num_folds, per_fold, str(p))


def missing_images(pairs: PairList, lfw_dir: PathLike, ext: str = "jpg") -> list[Path]:
    """Paths the pairs refer to that do not exist under ``lfw_dir`` (empty when complete)."""
    return [
        path
        for name, idx in pairs.image_keys()
        if not (path := lfw_image_path(lfw_dir, name, idx, ext)).is_file()
    ]


@dataclasses.dataclass(frozen=True)
class VideoPair:
    """One YouTube Faces pair of videos (``Name/videoNumber``)."""

    video1: str
    video2: str
    issame: bool
    fold: int


def read_youtube_faces_splits(path: PathLike) -> list[VideoPair]:
    """Parses YouTube Faces' ``splits.txt``.

    Lines are comma separated: ``split number, pair number, first name, second name,
    is same (1) or different (0)``; the first line is a header and further columns are
    ignored. Split numbers are 1-based in the file and 0-based in the result.

    Args:
        path: the splits file.

    Returns:
        The video pairs in file order.

    Raises:
        InvalidInputError: missing file or a malformed line.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"splits file {p}: no such file")
    out = []
    for k, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        cols = [c.strip() for c in line.split(",")]
        where = f"{p}:{k + 1}"
        if k == 0 and not cols[0].isdigit():
            continue  # header
        if len(cols) < 5:
            raise InvalidInputError(f"{where}: expected at least 5 comma-separated columns")
        split = _parse_int(cols[0], "split number", where)
        same = _parse_int(cols[4], "same flag", where)
        if split < 1 or same not in (0, 1):
            raise InvalidInputError(f"{where}: split must be >= 1 and same flag 0 or 1")
        out.append(VideoPair(cols[2], cols[3], bool(same), split - 1))
    if not out:
        raise InvalidInputError(f"splits file {p}: no pairs")
    return out
