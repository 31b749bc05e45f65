"""Typed errors raised for bad user input. All subclass ``ValueError`` or ``TypeError``."""


class FaceNetError(Exception):
    """Base class of every error facenet_tf raises on purpose."""


class InvalidInputError(FaceNetError, ValueError):
    """An input value (array, batch, argument) is malformed; the message names it."""


class InvalidInputTypeError(FaceNetError, TypeError):
    """An input has a type or dtype we cannot use; the message names it."""


class ImageReadError(InvalidInputError):
    """A file could not be read as an image (missing, empty, truncated, not an image)."""


class ImageTooLargeError(ImageReadError):
    """An image exceeds the decompression-bomb pixel limit."""


class NoFaceError(InvalidInputError):
    """No face was found in an image where one was required.

    Attributes:
        names: the images without a face (file paths, or ``images[i]`` for arrays).
    """

    def __init__(self, message: str, names: tuple[str, ...] = ()):
        super().__init__(message)
        self.names = tuple(names)


class UntrainedModelError(InvalidInputError):
    """A model without trained weights was asked to embed faces (its vectors would be
    meaningless); pass ``allow_untrained=True`` to use it anyway."""


class TemplateMismatchError(InvalidInputError):
    """Aligned crops were made with another alignment template than the model expects.

    Attributes:
        expected: the model's template.
        mismatched: (file, recorded template) of every offending crop.
    """

    def __init__(self, message: str, expected: str = "", mismatched: tuple = ()):
        super().__init__(message)
        self.expected = expected
        self.mismatched = tuple(mismatched)


class ModelNotFoundError(FaceNetError, KeyError):
    """A model name is not registered and is not a loadable file."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class EmbeddingsFileError(InvalidInputError):
    """An embeddings file (TFRecord, Parquet, CSV, JSON, .npy) is missing, damaged or
    cannot be combined with the others read with it; the message names it."""


class GalleryError(FaceNetError):
    """A gallery on disk cannot be used: a damaged, truncated or missing file (the message
    names it), a model that does not match the one it was built with, or a second writer."""
