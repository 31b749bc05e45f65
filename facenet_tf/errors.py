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
    """No face was found in an image where one was required."""


class ModelNotFoundError(FaceNetError, KeyError):
    """A model name is not registered and is not a loadable file."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""
