"""Model registry: small builder functions registered by name (timm-style).

Every registered builder returns a Keras functional model that
  * takes float32 RGB pixel values in [0, 255], shape [N, H, W, 3] at the model's
    declared ``input_size`` (preprocessing is the model's first layer, so exported
    graphs and ``.keras`` files carry it),
  * ends in a D-dimensional embedding, L2-normalised by ``keras.layers.UnitNormalization``,
  * is named after its registry name, so ``load_model`` can find its metadata again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from facenet_tf.errors import ModelNotFoundError

Builder = Callable[..., keras.Model]
UNTRAINED_LICENSE = "Apache-2.0 (architecture only; ships without trained weights)"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a registered model declares about itself.

    Attributes:
        name: registry name, also the Keras model's ``name``.
        builder: ``builder(embedding_dim=128, **overrides) -> keras.Model``.
        input_size: (height, width) in pixels of the aligned face the model expects.
        align_template: name of the alignment template that produces its input crops
            (see ``facenet_tf.align``), e.g. ``"facenet_160"``, ``"dlib_150"``, ``"mobile_112"``.
        pretrained_weights: whether trained weights ship for it (``create_model(name,
            pretrained=True)`` loads them); False for architectures that ship untrained.
        license: terms of its weights (or of the architecture alone when untrained).
        paper_params: parameter count the paper gives, or None.
        paper_flops: multiply-adds per image the paper gives ("FLOPS" in its tables), or None.
        summary: one line for ``facenet-tf models``.
        compatible_with: registry name of the model whose embedding space this model's
            vectors live in (harmonic embeddings: its vectors are compared directly with
            that model's), or None for a model with a space of its own.
    """

    name: str
    builder: Builder
    input_size: tuple[int, int]
    align_template: str
    pretrained_weights: bool = False
    license: str = UNTRAINED_LICENSE
    paper_params: float | None = None
    paper_flops: float | None = None
    summary: str = ""
    compatible_with: str | None = None


_REGISTRY: dict[str, ModelInfo] = {}
DEFAULT_MODEL = "dlib_resnet_v1"
FALLBACK_DEFAULT_MODEL = "nn4"


def register_model(
    name: str,
    *,
    input_size: tuple[int, int],
    align_template: str = "facenet_160",
    pretrained_weights: bool = False,
    license: str = UNTRAINED_LICENSE,
    paper_params: float | None = None,
    paper_flops: float | None = None,
    summary: str = "",
    compatible_with: str | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name``; a duplicate name raises ValueError.

    Every builder has the signature ``builder(embedding_dim=128, *, pretrained=False,
    **overrides)``; ``pretrained=True`` is only passed when ``pretrained_weights`` is set.
    """

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(
            name=name,
            builder=builder,
            input_size=tuple(input_size),
            align_template=align_template,
            pretrained_weights=pretrained_weights,
            license=license,
            paper_params=paper_params,
            paper_flops=paper_flops,
            summary=summary or (builder.__doc__ or "").strip().splitlines()[0],
            compatible_with=compatible_with,
        )
        return builder

    return decorator


def _ensure_builtin_models() -> None:
    # Importing the package registers the built-in families exactly once.
    import facenet_tf.models  # noqa: F401


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_builtin_models()
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """The ``ModelInfo`` registered under ``name``; ModelNotFoundError if unknown."""
    _ensure_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def create_model(
    name: str, embedding_dim: int = 128, *, pretrained: bool = False, **overrides
) -> keras.Model:
    """Builds the registered model ``name``.

    Args:
        name: a name from ``list_models()``.
        embedding_dim: D, the size of the L2-normalised output.
        pretrained: load the model's trained weights (only for models registered with
            ``pretrained_weights=True``; ``facenet_tf.load_model(name)`` does this for
            every model that has them). False builds the architecture with random weights.
        **overrides: builder-specific keyword arguments (see each builder's docstring).

    Returns:
        A Keras functional model mapping float32 [N, H, W, 3] pixels in [0, 255] to
        float32 [N, embedding_dim] unit vectors.
    """
    info = get_model_info(name)
    if not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
    if not info.pretrained_weights:
        require_untrained(name, pretrained)
    return info.builder(embedding_dim=embedding_dim, pretrained=pretrained, **overrides)


def require_untrained(name: str, pretrained: bool) -> None:
    """Raises ModelNotFoundError when ``pretrained`` is asked of an untrained architecture."""
    if pretrained:
        raise ModelNotFoundError(
            f"model {name!r} ships without trained weights; pass pretrained=False to build "
            "the architecture (e.g. to train it)"
        )


def default_model_name() -> str:
    """The model ``embed`` uses when none is given."""
    _ensure_builtin_models()
    return DEFAULT_MODEL if DEFAULT_MODEL in _REGISTRY else FALLBACK_DEFAULT_MODEL
