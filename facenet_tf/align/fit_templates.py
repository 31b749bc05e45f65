r"""Fits the ``facenet_160`` and ``dlib_150`` templates on CelebA and writes templates.json.

    python -m facenet_tf.align.fit_templates \
        --celeba_dir=../shared/data/celeba/wild --output=facenet_tf/align/templates.json

Needs the ``[dev]`` extras (dlib) and face-recognition-models (dlib's 5-point predictor).
LFW is never used here. CelebA identities are split in two: even-numbered folders fit
the templates, odd-numbered ones measure how well they reproduce the reference crops.

For every image where dlib's HOG detector and our MTCNN find the same (largest) face:
  * the reference ``dlib_150`` transform is dlib's own image -> chip mapping for
    ``get_face_chip(img, shape, size=150, padding=0.25)``, read exactly by running
    ``get_face_chip`` on images holding their own x and y coordinates;
  * the reference ``facenet_160`` transform is the FaceNet reference implementation's
    crop: MTCNN box grown by 16 pixels on each side, resized to 160x160 (faces whose grown
    box leaves the image are skipped, so no clipping distorts the geometry).
The template T is the mean position of our landmarks in the reference crops (the least-
squares choice in landmark space). How well the similarity transform from our landmarks
to T reproduces each held-out reference crop is measured as the mean displacement of a
5x5 grid of crop points (crop pixels) and as the mean absolute pixel difference. A
refinement that minimises the grid displacement directly on the fitting half is also
computed and reported; it gains at most 0.5% on the held-out half while moving the nose
to implausible places, so the mean is what we ship. The "similarity floor" is the
displacement left by the best similarity transform for each reference crop itself: 0 for
dlib (its chip is a similarity), about 8 px for the FaceNet crop, which stretches the
box to a square.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from facenet_tf.align.detector import MTCNNDetector
from facenet_tf.align.transform import apply_transform, umeyama, warp
from facenet_tf.io.files import list_images
from facenet_tf.io.images import read_image

FLAGS = flags.FLAGS
_CELEBA = flags.DEFINE_string("celeba_dir", "../shared/data/celeba/wild", "CelebA image tree.")
_OUTPUT = flags.DEFINE_string("output", "facenet_tf/align/templates.json", "JSON to write.")
_MAX = flags.DEFINE_integer("max_images", 3000, "Images to use at most (both halves).")
_CACHE = flags.DEFINE_string("cache", None, "Optional .pkl caching the detections between runs.")

FACENET_MARGIN = 32.0
FACENET_SIZE = 160
DLIB_SIZE = 150
DLIB_PADDING = 0.25


def _dlib_models():
    import dlib  # dev-only dependency

    root = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0])
    predictor = dlib.shape_predictor(str(root / "models" / "shape_predictor_5_face_landmarks.dat"))
    return dlib, dlib.get_frontal_face_detector(), predictor


def dlib_chip_transform(dlib, shape, image_hw: tuple[int, int]) -> np.ndarray | None:
    """Image -> chip affine matrix of ``dlib.get_face_chip(.., 150, 0.25)``, [2, 3]."""
    h, w = image_hw
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    offset = 10_000.0  # tells sampled coordinates from the chip's zero fill
    cx = dlib.get_face_chip(xs + offset, shape, DLIB_SIZE, DLIB_PADDING)
    cy = dlib.get_face_chip(ys + offset, shape, DLIB_SIZE, DLIB_PADDING)
    inside = (cx > offset - 0.5) & (cy > offset - 0.5)
    if inside.sum() < 100:
        return None
    v, u = np.nonzero(inside)
    # Fit chip -> image on interior samples (bilinear sampling of a linear map is exact).
    design = np.stack([u, v, np.ones_like(u)], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, np.stack([cx[inside], cy[inside]], 1) - offset, rcond=None)
    chip_to_image = np.vstack([coef.T, [0, 0, 1]])
    return np.linalg.inv(chip_to_image)[:2]


def facenet_crop_transform(box, image_hw) -> np.ndarray | None:
    """Image -> crop matrix of the reference ``align_dataset_mtcnn`` (160, margin 32)."""
    h, w = image_hw
    half = FACENET_MARGIN / 2
    x1, y1 = int(box[0] - half), int(box[1] - half)
    x2, y2 = int(box[2] + half), int(box[3] + half)
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
        return None
    sx, sy = FACENET_SIZE / (x2 - x1), FACENET_SIZE / (y2 - y1)
    # pixel centres: u = (x - x1 + 0.5) * sx - 0.5
    return np.array([[sx, 0, (0.5 - x1) * sx - 0.5], [0, sy, (0.5 - y1) * sy - 0.5]])


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def collect(paths, detector, dlib_models):
    """Per image: our landmarks [5, 2], both reference matrices (or None), image path."""
    dlib, hog, predictor = dlib_models
    rows = []
    for start in range(0, len(paths), 32):
        chunk = paths[start : start + 32]
        images = [read_image(p) for p in chunk]
        for path, image, faces in zip(chunk, images, detector.detect_faces(images), strict=True):
            dets = hog(image, 1)
            if not dets or not faces:
                continue
            det = max(dets, key=lambda r: r.area())
            rect = (det.left(), det.top(), det.right() + 1, det.bottom() + 1)
            face = max(faces, key=lambda f: _iou(f.box, rect))
            if _iou(face.box, rect) < 0.3:
                continue
            shape = predictor(image, det)
            dlib_matrix = dlib_chip_transform(dlib, shape, image.shape[:2])
            row = {
                "path": str(path),
                "landmarks": face.landmarks,
                "dlib_150": dlib_matrix,
                "facenet_160": facenet_crop_transform(face.box, image.shape[:2]),
            }
            if dlib_matrix is not None:
                # Validates the conventions: our warp with dlib's matrix vs dlib's own chip.
                chip = dlib.get_face_chip(image, shape, DLIB_SIZE, DLIB_PADDING)
                ours = warp(image, dlib_matrix, DLIB_SIZE)
                row["dlib_warp_check_mae"] = float(np.abs(chip.astype(float) - ours).mean())
            rows.append(row)
        logging.info("%d/%d images, %d matched faces", start + len(chunk), len(paths), len(rows))
    return rows


def _grid(size: int) -> np.ndarray:
    g = np.linspace(0, size - 1, 5)
    return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)


def crop_displacement(template, landmarks, references, size) -> np.ndarray:
    """Per face, mean distance (crop pixels) between reference and template crop points."""
    grid = _grid(size)
    out = []
    for lm, ref in zip(landmarks, references, strict=True):
        ours = umeyama(lm, template)
        ref_inv = np.linalg.inv(np.vstack([ref, [0, 0, 1]]))[:2]
        out.append(
            np.linalg.norm(
                apply_transform(ours, apply_transform(ref_inv, grid)) - grid, axis=1
            ).mean()
        )
    return np.asarray(out)


def similarity_floor(references, size) -> np.ndarray:
    """Per face, grid displacement of the best similarity approximating the reference."""
    grid = _grid(size)
    out = []
    for ref in references:
        ref_inv = np.linalg.inv(np.vstack([ref, [0, 0, 1]]))[:2]
        points = apply_transform(ref_inv, grid)
        best = umeyama(points, grid)
        out.append(np.linalg.norm(apply_transform(best, points) - grid, axis=1).mean())
    return np.asarray(out)


def fit_template(landmarks, references, size) -> np.ndarray:
    """Mean landmark position in the reference crops, refined on crop displacement.

    Faces vary little, so many templates give nearly the same transforms; a ridge term
    keeps the refinement next to the mean in those directions (any 1-pixel move must buy
    at least 1 squared pixel of displacement per face). Faces whose displacement under
    the mean template exceeds 3x the median (detector mismatches) are left out.
    """
    from scipy.optimize import least_squares  # scipy comes with scikit-learn

    init = np.mean([apply_transform(r, lm) for lm, r in zip(landmarks, references, strict=True)], 0)
    start = crop_displacement(init, landmarks, references, size)
    inliers = start <= 3.0 * np.median(start)
    landmarks = [lm for lm, ok in zip(landmarks, inliers, strict=True) if ok]
    grid = _grid(size)
    ref_inv = [
        np.linalg.inv(np.vstack([r, [0, 0, 1]]))[:2]
        for r, ok in zip(references, inliers, strict=True)
        if ok
    ]
    ridge = np.sqrt(len(landmarks))

    def residuals(flat):
        t = flat.reshape(5, 2)
        res = [
            (apply_transform(umeyama(lm, t), apply_transform(ri, grid)) - grid).ravel()
            for lm, ri in zip(landmarks, ref_inv, strict=True)
        ]
        res.append(ridge * (flat - init.ravel()))
        return np.concatenate(res)

    return least_squares(residuals, init.ravel()).x.reshape(5, 2)


def chip_mae(rows, name, template, size, limit=200) -> float:
    """Mean absolute pixel difference (0-255) between reference crops and ours."""
    diffs = []
    for row in rows[:limit]:
        image = read_image(row["path"])
        ref = warp(image, row[name], size).astype(np.float64)
        ours = warp(image, umeyama(row["landmarks"], template), size).astype(np.float64)
        diffs.append(np.abs(ref - ours).mean())
    return float(np.mean(diffs))


def main(argv):
    del argv
    paths = list_images(_CELEBA.value)
    rng = np.random.default_rng(0)
    paths = [paths[i] for i in rng.permutation(len(paths))[: _MAX.value]]
    fit_paths = [p for p in paths if int(p.parent.name) % 2 == 0]
    eval_paths = [p for p in paths if int(p.parent.name) % 2 == 1]
    if _CACHE.value and Path(_CACHE.value).is_file():
        with open(_CACHE.value, "rb") as f:
            fit_rows, eval_rows = pickle.load(f)
    else:
        detector = MTCNNDetector()
        models = _dlib_models()
        fit_rows = collect(fit_paths, detector, models)
        eval_rows = collect(eval_paths, detector, models)
        if _CACHE.value:
            with open(_CACHE.value, "wb") as f:
                pickle.dump((fit_rows, eval_rows), f)
    checks = [r["dlib_warp_check_mae"] for r in fit_rows if "dlib_warp_check_mae" in r]
    templates = {}
    for name, size, description in [
        ("facenet_160", FACENET_SIZE, "FaceNet reference crop (MTCNN box + 32 px margin, 160x160)"),
        ("dlib_150", DLIB_SIZE, "dlib get_face_chip(img, 5-point shape, size=150, padding=0.25)"),
    ]:
        fit = [r for r in fit_rows if r[name] is not None]
        ev = [r for r in eval_rows if r[name] is not None]
        lm_fit, ref_fit = [r["landmarks"] for r in fit], [r[name] for r in fit]
        lm_ev, ref_ev = [r["landmarks"] for r in ev], [r[name] for r in ev]
        template = np.mean(
            [apply_transform(r, lm) for lm, r in zip(lm_fit, ref_fit, strict=True)], 0
        )
        refined = fit_template(lm_fit, ref_fit, size)
        d_mean = crop_displacement(template, lm_ev, ref_ev, size)
        d_refined = crop_displacement(refined, lm_ev, ref_ev, size)
        stats = {
            "fit_faces": len(fit),
            "eval_faces": len(ev),
            "eval_crop_displacement_px_median": round(float(np.median(d_mean)), 3),
            "eval_crop_displacement_px_p90": round(float(np.percentile(d_mean, 90)), 3),
            "eval_crop_displacement_px_median_refined": round(float(np.median(d_refined)), 3),
            "eval_similarity_floor_px_median": round(
                float(np.median(similarity_floor(ref_ev, size))), 3
            ),
            "eval_pixel_mae": round(chip_mae(ev, name, template, size), 3),
        }
        if name == "dlib_150":
            # Our warp with dlib's own matrix vs get_face_chip: checks the conventions.
            stats["reference_warp_vs_dlib_chip_mae"] = round(float(np.median(checks)), 3)
        logging.info("%s: %s", name, stats)
        templates[name] = {
            "size": size,
            "points": [[round(float(x), 4), round(float(y), 4)] for x, y in template],
            "description": f"Fitted to reproduce {description} on CelebA (wild subset).",
            "fit": stats,
        }
    out = {
        "comment": "Written by python -m facenet_tf.align.fit_templates; do not edit by hand.",
        "landmark_order": ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"],
        "templates": templates,
    }
    Path(_OUTPUT.value).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    app.run(main)
