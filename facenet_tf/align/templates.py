"""Five-point alignment templates, one per model input.

A template gives where the five MTCNN landmarks (left eye, right eye, nose, mouth left,
mouth right; left/right as seen in the image) should land in a square crop of its native
size. ``align`` fits the similarity transform from the detected landmarks to the template
(``transform.umeyama``) and warps the image.

* ``mobile_112``: the 112x112 ArcFace / InsightFace template (Deng et al., 2019), the
  common input of MobileFaceNet-style models. Fixed constants.
* ``facenet_160``: reproduces, on average, the 160x160 crop of the FaceNet reference
  implementation's ``align_dataset_mtcnn`` (MTCNN box plus a 32-pixel margin, resized to
  160x160), with rotation added. Fitted on CelebA.
* ``dlib_150``: reproduces the 150x150 chip of ``dlib.get_face_chip(img, shape, 150,
  0.25)`` with dlib's 5-point shape predictor, which the dlib ResNet face model expects.
  dlib's five points are eye corners and the nose base, not MTCNN's eye centres, nose
  tip and mouth corners, so the template is the average position of our landmarks in
  dlib's chips, fitted on CelebA.

The two fitted templates live in ``templates.json``, written by
``python -m facenet_tf.align.fit_templates`` (needs the ``[dev]`` extras: dlib), which
also records how many faces they were fitted on and how closely they reproduce the
reference crops.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from facenet_tf.errors import InvalidInputError

TEMPLATES_JSON = Path(__file__).with_name("templates.json")

# ArcFace template for a 112x112 crop (insightface/utils/face_align.py, ``arcface_dst``).
ARCFACE_112 = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)

MARGIN_MODE = "margin"


@dataclasses.dataclass(frozen=True)
class Template:
    """Landmark positions in a square crop.

    Attributes:
        name: registry name.
        size: native crop side in pixels.
        points: float64 [5, 2] (x, y) of left eye, right eye, nose, mouth left, mouth right.
        description: where the numbers come from.
    """

    name: str
    size: int
    points: np.ndarray
    description: str

    def scaled(self, image_size: int | None = None) -> np.ndarray:
        """Template points for a crop of side ``image_size`` (default: native size).

        Scaling keeps the crop's outer edges fixed: a point at pixel-centre coordinate
        p in a crop of side n moves to (p + 0.5) * m / n - 0.5 in a crop of side m.
        """
        if image_size is None or image_size == self.size:
            return self.points.copy()
        ratio = image_size / self.size
        return (self.points + 0.5) * ratio - 0.5


@functools.cache
def _fitted() -> dict[str, dict]:
    if not TEMPLATES_JSON.is_file():
        raise FileNotFoundError(
            f"{TEMPLATES_JSON} is missing; regenerate it with "
            "python -m facenet_tf.align.fit_templates"
        )
    return json.loads(TEMPLATES_JSON.read_text())["templates"]


def template_names() -> list[str]:
    """Names accepted by ``get_template`` (``"margin"`` is a crop mode, not a template)."""
    return ["dlib_150", "facenet_160", "mobile_112"]


def get_template(name: str) -> Template:
    """Looks up a template by name.

    Raises:
        InvalidInputError: unknown name (the message lists the known ones).
    """
    if name == "mobile_112":
        return Template(
            "mobile_112",
            112,
            np.array(ARCFACE_112, np.float64),
            "ArcFace/InsightFace 112x112 template",
        )
    if name in ("facenet_160", "dlib_150"):
        entry = _fitted()[name]
        return Template(
            name, int(entry["size"]), np.array(entry["points"], np.float64), entry["description"]
        )
    raise InvalidInputError(
        f"unknown alignment template {name!r}; known: {template_names()} "
        f"or {MARGIN_MODE!r} for the box-plus-margin crop"
    )
