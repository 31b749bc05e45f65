"""What ``Gallery.add`` and ``Gallery.search`` take, made into vectors, labels and sources,
and the check that a model's embeddings belong in a gallery.

Items are told apart by ``facenet_tf.embedding_input``'s one rule (a float array with D columns is
vectors when every row has unit length; anything else is images for ``facenet_tf.embed``,
embedded with the gallery's model).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.embedding_input import embeddings_or_none
from facenet_tf.errors import GalleryError, InvalidInputError, InvalidInputTypeError


def checked_embedder(model: Any, folder: Path, model_name: str, embedding_dim: int):
    """The ``Embedder`` of ``model`` (name, ``.keras`` path, Keras model or ``Embedder``)
    when it makes the gallery's embeddings.

    The gallery's own model, or one registered as harmonic with it (its vectors share
    the gallery's space, e.g. ``mobilefacenet_harmonic_dlib`` for ``dlib_resnet_v1``).

    Raises:
        GalleryError: its embedding size differs from the gallery's, or its vectors are
            not in the gallery's space.
    """
    from facenet_tf.inference import get_embedder
    from facenet_tf.models.registry import list_models
    from facenet_tf.models.spec import shared_space

    # A registered name is checked before its weights load (an untrained or foreign model
    # is refused for its space, not for its weights); paths and models after loading.
    if isinstance(model, str) and model in list_models() and not shared_space(model, model_name):
        _refuse(folder, model_name, embedding_dim, model, "another space")
    embedder = get_embedder(model)
    if not shared_space(embedder.name, model_name) or embedder.embedding_dim != embedding_dim:
        _refuse(
            folder,
            model_name,
            embedding_dim,
            embedder.name,
            f"{embedder.embedding_dim}-D ones in another space",
        )
    return embedder


def _refuse(folder: Path, model_name: str, embedding_dim: int, other: str, what: str) -> None:
    raise GalleryError(
        f"{folder}: holds {embedding_dim}-D embeddings of model {model_name!r}; model "
        f"{other!r} makes {what} (open it with its own model or one registered as "
        "compatible with it)"
    )


def vectors(
    items: Any,
    embedder: Callable[[], Any],
    aligned: bool,
    name: str,
    embedding_dim: int,
    model_name: str,
) -> np.ndarray:
    """float32 [N, D]: ``items`` as embeddings, photos embedded by ``embedder()`` (called,
    and so the model loaded, only when there are photos).

    Raises:
        InvalidInputError / NoFaceError / ImageReadError: bad items, as ``embed``.
    """
    out = embeddings_or_none(items, embedding_dim, model_name, name)
    if out is not None:
        return out
    from facenet_tf.inference import embed

    out = embed(items, model=embedder(), aligned=aligned)
    if out.shape[-1] != embedding_dim:  # pragma: no cover - the model is checked
        raise InvalidInputError(f"{name}: D={out.shape[-1]}, gallery D={embedding_dim}")
    return out


def labels_for(labels: str | Sequence[str], n: int) -> list[str]:
    """N labels: ``labels`` repeated when it is one string.

    Raises:
        InvalidInputError: not N of them.
        InvalidInputTypeError: a label that is not a string.
    """
    labels = [labels] * n if isinstance(labels, str) else list(labels)
    if len(labels) != n:
        raise InvalidInputError(f"labels: {len(labels)} labels for {n} faces")
    bad = [lab for lab in labels if not isinstance(lab, str)]
    if bad:
        raise InvalidInputTypeError(f"labels must be strings; got {bad[0]!r}")
    return labels


def sources_for(sources: Sequence[str | None] | None, items: Any, n: int) -> list[str | None]:
    """N sources: ``sources``, or by default the file paths of ``items`` when it is a
    path or a list of paths (None for other items).

    Raises:
        InvalidInputError: not N strings (or None).
    """
    if sources is None:
        sources = _paths_of(items, n)
    sources = list(sources)
    if len(sources) != n or any(s is not None and not isinstance(s, str) for s in sources):
        raise InvalidInputError(f"sources: expected {n} strings (or None)")
    return sources


def _paths_of(items: Any, n: int) -> list[str | None]:
    if isinstance(items, str | os.PathLike):
        return [os.fspath(items)] * n
    if isinstance(items, list | tuple) and len(items) == n:
        return [os.fspath(x) if isinstance(x, str | os.PathLike) else None for x in items]
    return [None] * n
