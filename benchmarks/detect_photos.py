r"""MTCNN detection speed on 1280x720 multi-face photos and on LFW: ours, the frozen
pre-packing detector (``tests/align/reference_detector.py``) and the ``mtcnn`` package.

    nice -n 10 python benchmarks/detect_photos.py --lfw_dir=../shared/data/lfw/lfw-deepfunneled

The photos are synthetic and deterministic (``synthetic_photos``): LFW images scaled to
90-360 pixels pasted into the cells of a 3 x 2 grid over blurred noise. The detectors
are timed in alternating rounds on the same photos, so load from other processes hits
them alike. Prints and writes ``benchmarks/results/detect_photos.json``:
  * ms/photo, one photo per call (as a stream of photos arrives) and all photos in one
    call (as ``FacePipeline`` passes a chunk), with ratios to ours;
  * LFW 250x250: faces/s of ours and the reference, batched;
  * agreement of ours with the reference on ``--agree_images`` LFW images and on the
    synthetic photos: face counts, landmark and box distances (pixels).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
_LFW = flags.DEFINE_string(
    "lfw_dir", str(ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"), "LFW images."
)
_PHOTOS = flags.DEFINE_integer("photos", 20, "Synthetic 1280x720 photos.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating timing rounds.")
_LFW_IMAGES = flags.DEFINE_integer("lfw_images", 256, "LFW images timed (faces/s).")
_AGREE = flags.DEFINE_integer("agree_images", 500, "LFW images compared with the reference.")
_OUT = flags.DEFINE_string(
    "output", str(ROOT / "benchmarks" / "results" / "detect_photos.json"), ""
)


def synthetic_photos(
    lfw_paths, count: int, seed: int = 0, height: int = 720, width: int = 1280
) -> list[np.ndarray]:
    """uint8 [height, width, 3] RGB photos, each with 6 LFW images (one face each, sides
    90 to 360 pixels, faces about 40% of that) pasted into a 3 x 2 grid of cells at
    random offsets, over blurred noise.

    Args:
        lfw_paths: sorted LFW image paths to draw from.
        count: number of photos.
        seed: the photos depend on it and on ``lfw_paths`` only.
    """
    rng = np.random.default_rng(seed)
    rows, cols = 2, 3
    cell_h, cell_w = height // rows, width // cols
    photos = []
    for _ in range(count):
        noise = rng.uniform(0, 255, (height // 8, width // 8, 3)).astype(np.float32)
        canvas = cv2.GaussianBlur(cv2.resize(noise, (width, height)), (0, 0), 3)
        canvas = np.clip(canvas, 0, 255).astype(np.uint8)
        for cell in range(rows * cols):
            r, c = divmod(cell, cols)
            side = int(rng.integers(90, min(cell_h, cell_w)))
            face = cv2.imread(str(lfw_paths[rng.integers(len(lfw_paths))]))[..., ::-1]
            face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
            y = r * cell_h + int(rng.integers(0, cell_h - side + 1))
            x = c * cell_w + int(rng.integers(0, cell_w - side + 1))
            canvas[y : y + side, x : x + side] = face
        photos.append(canvas)
    return photos


def agreement(ours, reference) -> dict:
    """Face counts and distances between two detectors' ``Face`` lists (same images).

    Faces are paired by rank (both sort by score); distances pool every landmark and box
    coordinate of every paired face.
    """
    count_diff = [
        i for i, (a, b) in enumerate(zip(ours, reference, strict=True)) if len(a) != len(b)
    ]
    lm, bx = [], []
    for a, b in zip(ours, reference, strict=True):
        for fa, fb in zip(a, b, strict=False):
            lm.append(np.linalg.norm(fa.landmarks - fb.landmarks, axis=1))
            bx.append(np.abs(np.subtract(fa.box, fb.box)))
    lm_all = np.concatenate(lm) if lm else np.zeros(1)
    bx_all = np.concatenate(bx) if bx else np.zeros(1)
    return {
        "images": len(ours),
        "faces": sum(len(a) for a in ours),
        "images_with_different_face_count": count_diff,
        "landmark_px_median": float(np.median(lm_all)),
        "landmark_px_max": float(lm_all.max()),
        "box_px_median": float(np.median(bx_all)),
        "box_px_max": float(bx_all.max()),
    }


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def photo_speed(photos, ours, reference, package, rounds: int) -> dict:
    """ms/photo of each detector, rounds alternating between them."""
    runs = {
        "ours_single": lambda: [ours.detect_faces([p]) for p in photos],
        "reference_single": lambda: [reference.detect_faces([p]) for p in photos],
        "package_single": lambda: [package.detect_faces(p) for p in photos],
        "ours_batched": lambda: ours.detect_faces(photos),
        "reference_batched": lambda: reference.detect_faces(photos),
    }
    for run in runs.values():  # warm-up: traces, compiled shapes, caches
        run()
    seconds = {k: [] for k in runs}
    for r in range(rounds):
        for k, run in runs.items():
            seconds[k].append(_time(run))
        print(f"  round {r + 1}/{rounds}", flush=True)
    ms = {k: 1000 * float(np.median(v)) / len(photos) for k, v in seconds.items()}
    return {
        "photos": len(photos),
        "ms_per_photo_median_of_rounds": ms,
        "ms_per_photo_all_rounds": {
            k: [1000 * s / len(photos) for s in v] for k, v in seconds.items()
        },
        "reference_over_ours_single": ms["reference_single"] / ms["ours_single"],
        "package_over_ours_single": ms["package_single"] / ms["ours_single"],
        "reference_over_ours_batched": ms["reference_batched"] / ms["ours_batched"],
        "package_over_ours_batched": ms["package_single"] / ms["ours_batched"],
    }


def lfw_speed(images, ours, reference, rounds: int, chunk: int = 32) -> dict:
    """Faces/s of ours and the reference on LFW images, in chunks, alternating."""
    seconds = {"ours": 0.0, "reference": 0.0}
    faces = {"ours": 0, "reference": 0}
    ours.detect_faces(images[:chunk])
    reference.detect_faces(images[:chunk])
    for _ in range(rounds):
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            for name, det in (("ours", ours), ("reference", reference)):
                t0 = time.perf_counter()
                found = det.detect_faces(part)
                seconds[name] += time.perf_counter() - t0
                faces[name] += sum(len(f) for f in found)
    rate = {k: faces[k] / seconds[k] for k in seconds}
    return {
        "images": len(images),
        "faces_per_s": rate,
        "ours_over_reference": rate["ours"] / rate["reference"],
    }


def main(argv):
    del argv
    sys.path.insert(0, str(ROOT))
    from mtcnn import MTCNN

    from facenet_tf.align.detector import MTCNNDetector
    from facenet_tf.io.files import list_images
    from facenet_tf.io.images import read_image
    from tests.align.reference_detector import MTCNNDetector as ReferenceDetector

    paths = sorted(str(p) for p in list_images(_LFW.value))
    if not paths:
        raise SystemExit(f"no LFW images under {_LFW.value}")
    ours, reference, package = MTCNNDetector(), ReferenceDetector(), MTCNN()
    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "load_average_start": os.getloadavg(),
    }
    photos = synthetic_photos(paths, _PHOTOS.value)
    print(f"photos: {len(photos)} synthetic 1280x720", flush=True)
    result["photos_1280x720"] = photo_speed(photos, ours, reference, package, _ROUNDS.value)
    result["photos_1280x720"]["agreement"] = agreement(
        ours.detect_faces(photos), reference.detect_faces(photos)
    )
    print(json.dumps(result["photos_1280x720"], indent=2), flush=True)

    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(paths), min(len(paths), _AGREE.value), replace=False))
    lfw = [read_image(paths[i]) for i in pick]
    result["lfw_250"] = lfw_speed(lfw[: _LFW_IMAGES.value], ours, reference, _ROUNDS.value)
    result["lfw_250"]["agreement"] = agreement(ours.detect_faces(lfw), reference.detect_faces(lfw))
    print(json.dumps(result["lfw_250"], indent=2), flush=True)
    result["load_average_end"] = os.getloadavg()
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(json.dumps(result, indent=2) + "\n")
    print("load average start/end:", result["load_average_start"], result["load_average_end"])


if __name__ == "__main__":
    app.run(main)
