"""Converted pretrained weights, cached on disk under the user's cache directory.

Where: ``$FACENET_TF_HOME/weights/`` when the variable is set, else
``~/.cache/facenet_tf/weights/``. What: one ``.npz`` per model holding its arrays plus a
small JSON record (``__meta__``) of where they came from.

Every load is checked: the arrays' content hash (``arrays_sha256``, independent of the
zip container, so it is reproducible) must equal the pinned value of the converter that
made them. A truncated, corrupt or stale file is rebuilt from the source; a build writes
to a temporary file in the same folder and moves it into place with ``os.replace``, so a
reader never sees a half-written file, and concurrent builders at worst both convert.
Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from facenet_tf.errors import FaceNetError

logger = logging.getLogger(__name__)

HOME_ENV = "FACENET_TF_HOME"
_META_KEY = "__meta__"


class ChecksumError(FaceNetError, ValueError):
    """A file or a set of arrays does not have the sha256 it must have."""


def cache_home() -> Path:
    """The facenet_tf cache root: ``$FACENET_TF_HOME`` or ``~/.cache/facenet_tf``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facenet_tf"


def weights_dir(home: str | os.PathLike | None = None) -> Path:
    """Folder of converted weights under ``home`` (default ``cache_home()``)."""
    return (Path(home) if home is not None else cache_home()) / "weights"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex sha256 of named arrays: names, dtypes, shapes and little-endian C-order bytes.

    Keys starting with ``__`` (metadata) are left out.
    """
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if not k.startswith("__")):
        a = np.asarray(arrays[key])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def weights_sha256(model) -> str:
    """Hex sha256 of a Keras model's weights (``arrays_sha256`` keyed by each weight's
    path): the identity of the weights, whatever name the model goes by."""
    return arrays_sha256({w.path: np.asarray(w) for w in model.weights})


def check_file_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raises ChecksumError naming ``path`` when its sha256 is not ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the expected {expected}; the file is "
            "corrupt or a different version (reinstall the package that ships it)"
        )


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` as .npz via a temporary file and ``os.replace``.

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache may be shared read-only
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_checked(path: Path, expected_sha256: str) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` if they hash to ``expected_sha256``, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        logger.warning("%s: unreadable cached weights (%s); rebuilding", path, err)
        return None
    actual = arrays_sha256(arrays)
    if actual != expected_sha256:
        logger.warning(
            "%s: cached weights hash %s, expected %s; rebuilding", path, actual, expected_sha256
        )
        return None
    return arrays


def load_or_build(
    name: str,
    build: Callable[[], tuple[dict[str, np.ndarray], dict]],
    expected_sha256: str,
    home: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Returns the cached arrays ``name``, (re)building and caching them when needed.

    Args:
        name: file stem under ``weights_dir(home)``.
        build: makes ``(arrays, meta)`` from the source; ``meta`` is a JSON-able record
            (source path, source sha256, ...) stored beside the arrays.
        expected_sha256: ``arrays_sha256`` the arrays must have, cached or freshly built.
        home: cache root; default ``cache_home()``.

    Returns:
        The arrays, without the metadata entry.

    Raises:
        ChecksumError: freshly built arrays do not hash to ``expected_sha256``.
    """
    path = weights_dir(home) / f"{name}.npz"
    arrays = _read_checked(path, expected_sha256)
    if arrays is not None:
        arrays.pop(_META_KEY, None)
        return arrays
    arrays, meta = build()
    actual = arrays_sha256(arrays)
    if actual != expected_sha256:
        raise ChecksumError(
            f"{name}: converted weights hash {actual}, expected {expected_sha256}; "
            "the source or the converter changed"
        )
    record = json.dumps({**meta, "weights_sha256": actual}, sort_keys=True)
    to_write = {**arrays, _META_KEY: np.frombuffer(record.encode(), dtype=np.uint8)}
    try:
        write_npz_atomic(path, to_write)
    except OSError as err:  # a read-only home still gets working weights, just uncached
        logger.warning("%s: could not cache converted weights (%s)", path, err)
    return arrays


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON record stored with cached weights (empty when there is none)."""
    with np.load(path, allow_pickle=False) as npz:
        if _META_KEY not in npz.files:
            return {}
        return json.loads(npz[_META_KEY].tobytes().decode())
