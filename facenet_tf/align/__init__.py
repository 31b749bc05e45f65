"""Face detection (MTCNN) and 5-point alignment to per-model templates.

Public API:
    detect(image) -> list[dict]               boxes, scores, 5 landmarks (JSON-ready)
    align(image, template=...) -> list[array]  aligned crops of one image
    align_faces(images, template=...) -> list[array | None]   one crop per image, batched
    MTCNNDetector                              configurable, batched detector
"""

from facenet_tf.align.detector import LANDMARK_NAMES, Face, MTCNNDetector, default_detector, detect
from facenet_tf.align.face_align import (
    DEFAULT_POLICY,
    ONE_FACE_POLICIES,
    POLICIES,
    align,
    align_faces,
    crop_face,
    order_faces,
    select_faces,
)
from facenet_tf.align.templates import MARGIN_MODE, Template, get_template, template_names
from facenet_tf.align.transform import margin_box_transform, umeyama, warp

__all__ = [
    "DEFAULT_POLICY",
    "LANDMARK_NAMES",
    "ONE_FACE_POLICIES",
    "MARGIN_MODE",
    "POLICIES",
    "Face",
    "MTCNNDetector",
    "Template",
    "align",
    "align_faces",
    "crop_face",
    "default_detector",
    "detect",
    "get_template",
    "margin_box_transform",
    "order_faces",
    "select_faces",
    "template_names",
    "umeyama",
    "warp",
]


class _CallableModule(__import__("types").ModuleType):
    """Lets ``facenet_tf.align(image, template=...)`` call ``align`` while this package
    stays importable as ``facenet_tf.align.<module>``."""

    def __call__(self, *args, **kwargs):
        return align(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
