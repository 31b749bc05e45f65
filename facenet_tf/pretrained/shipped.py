"""Weights trained by this project and shipped inside the package.

Each shipped model is one ``.npz`` under ``facenet_tf/pretrained/weights/``: its arrays
keyed ``"{layer name}/{index}"`` (the order of ``layer.get_weights()``), so loading
depends only on layer names, the contract the model builders keep. Loading checks the
arrays' content hash (``arrays_sha256``) against the value pinned in ``SHIPPED``, so a
damaged or swapped file raises ``ChecksumError`` instead of giving quiet wrong vectors.
Nothing here touches the network.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np

from facenet_tf.errors import InvalidInputError
from facenet_tf.pretrained.cache import ChecksumError, arrays_sha256

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# Registry name -> arrays_sha256 of its shipped weights.
SHIPPED: dict[str, str] = {
    "mobilefacenet_harmonic_dlib": "a0a3ec731c4e961881894148b3307bf466c4bf28aadf63c7537214e9d0e62361",
}


def shipped_weights_path(name: str) -> Path:
    """Path of the shipped ``.npz`` of model ``name``."""
    return WEIGHTS_DIR / f"{name}.npz"


def model_arrays(model: keras.Model) -> dict[str, np.ndarray]:
    """Every weight of ``model`` keyed ``"{layer name}/{index}"`` (trainable or not)."""
    arrays: dict[str, np.ndarray] = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{i}"] = np.asarray(w)
    return arrays


def save_model_arrays(model: keras.Model, path: str | os.PathLike) -> str:
    """Writes ``model``'s weights as a shipped ``.npz``; returns their ``arrays_sha256``."""
    arrays = model_arrays(model)
    np.savez_compressed(path, **arrays)
    return arrays_sha256(arrays)


def read_shipped_arrays(name: str, path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The checked arrays of model ``name`` (from ``path``, default the shipped file).

    Raises:
        ChecksumError: the file is missing, unreadable or its arrays do not hash to the
            pinned value.
    """
    file = Path(path) if path is not None else shipped_weights_path(name)
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ChecksumError(f"{file}: cannot read the weights of {name!r}: {e}") from e
    actual, expected = arrays_sha256(arrays), SHIPPED[name]
    if actual != expected:
        raise ChecksumError(
            f"{file}: the weights of {name!r} hash {actual}, expected {expected}; the file is "
            "damaged or not the one this version ships; reinstall facenet-tf"
        )
    return arrays


def check_layout(model: keras.Model, arrays: dict[str, np.ndarray], source: str) -> None:
    """Raises InvalidInputError naming ``source`` unless ``arrays`` has exactly the keys
    and shapes of ``model_arrays(model)``."""
    want = {key: tuple(w.shape) for key, w in model_arrays(model).items()}
    got = {key: tuple(a.shape) for key, a in arrays.items()}
    if want != got:
        differ = sorted(set(want.items()) ^ set(got.items()))[:4]
        raise InvalidInputError(
            f"{source} does not match the layers of model {model.name!r} "
            f"(name, shape pairs that differ: {differ})"
        )


def load_shipped_weights(
    model: keras.Model, name: str, path: str | os.PathLike | None = None
) -> keras.Model:
    """Sets ``model``'s weights to the shipped weights of ``name``; returns ``model``.

    Raises:
        ChecksumError: see ``read_shipped_arrays``.
        InvalidInputError: the model's layers or shapes do not match the weights.
    """
    arrays = read_shipped_arrays(name, path)
    check_layout(model, arrays, f"the weights of {name!r}")
    for layer in model.layers:
        count = len(layer.weights)
        if count:
            layer.set_weights([arrays[f"{layer.name}/{i}"] for i in range(count)])
    return model
