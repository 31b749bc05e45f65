"""Regenerates the dlib chips and golden descriptors in this folder (needs dlib-bin).

Run from the repository root:  python tests/data/dlib_chips/make_goldens.py

Each chip is cut by dlib itself from an LFW deep-funneled image (frontal face detector
with one upsampling, 5-landmark shape predictor, ``get_face_chip(size=150,
padding=0.25)``) and saved as a lossless PNG; the goldens are what
``dlib.face_recognition_model_v1.compute_face_descriptor`` returns for those PNG pixels.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import dlib
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from facenet_tf.pretrained.dlib_reader import (  # noqa: E402
    SHAPE_PREDICTOR_5_FILE,
    find_model_file,
)

LFW = HERE.parents[3] / "shared" / "data" / "lfw" / "lfw-deepfunneled"
SOURCES = ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg")


def main() -> None:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(find_model_file(SHAPE_PREDICTOR_5_FILE)))
    net = dlib.face_recognition_model_v1(str(find_model_file()))
    goldens = {}
    descriptors = []
    for source in SOURCES:
        image = dlib.load_rgb_image(str(LFW / source))
        faces = detector(image, 1)
        chip = dlib.get_face_chip(image, predictor(image, faces[0]), size=150, padding=0.25)
        png = HERE / (Path(source).stem + "_dlib150.png")
        cv2.imwrite(str(png), np.ascontiguousarray(chip[..., ::-1]))
        pixels = np.ascontiguousarray(cv2.imread(str(png))[..., ::-1])
        assert np.array_equal(pixels, chip), "PNG round trip changed the pixels"
        descriptor = np.array(net.compute_face_descriptor(pixels), dtype=np.float64)
        descriptors.append(descriptor)
        goldens[png.name] = {
            "source": f"lfw-deepfunneled/{source}",
            "descriptor_first8": [float(v) for v in descriptor[:8]],
            "descriptor_norm": float(np.linalg.norm(descriptor)),
        }
    distance = float(np.linalg.norm(descriptors[0] - descriptors[1]))
    record = {"dlib_version": dlib.__version__, "chips": goldens, "distance_01": distance}
    (HERE / "goldens.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
