r"""Detection + alignment on LFW: our MTCNN beside the ``mtcnn`` package, same images, same run.

    nice -n 10 python benchmarks/detect_align.py --lfw_dir=../shared/data/lfw/lfw-deepfunneled

Prints and writes ``benchmarks/results/detect_align.json``:
  * yield: share of all LFW images (13,233) where we find a face, with the misses;
  * speed: aligned faces per second, ours (``FacePipeline.crops`` of the model, batched:
    the code ``facenet_tf.embed`` runs before the network) and the package's
    (``MTCNN().detect_faces`` one image at a time, its largest face cut with the same
    warp), timed on the same sample in alternating chunks so load from other processes
    hits both alike;
  * agreement: distance between our landmarks and the package's (median and p95, pixels;
    the package rounds its landmarks to integers) on that sample;
  * a contact sheet of aligned crops (``docs/align_contact_sheet.png``).
LFW is only evaluated here, never used to fit anything.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
from absl import app, flags

from facenet_tf.align import LANDMARK_NAMES, MTCNNDetector, align_faces, crop_face
from facenet_tf.face_pipeline import FaceNotFoundWarning, FacePipeline, describe
from facenet_tf.io.files import list_images
from facenet_tf.io.images import read_image

ROOT = Path(__file__).resolve().parents[1]
_LFW = flags.DEFINE_string(
    "lfw_dir", str(ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"), "LFW images."
)
_MAX = flags.DEFINE_integer("max_images", 0, "Yield run on the first N images (0 = all).")
_SAMPLE = flags.DEFINE_integer("package_images", 500, "Images in the side-by-side sample.")
_CHUNK = flags.DEFINE_integer("chunk", 32, "Images per alternating timing chunk.")
_OUT = flags.DEFINE_string("output", str(ROOT / "benchmarks" / "results" / "detect_align.json"), "")
_SHEET = flags.DEFINE_string("sheet", str(ROOT / "docs" / "align_contact_sheet.png"), "")
_MODEL = flags.DEFINE_string("model", None, "Model whose pipeline is timed (default model).")
_ONLY_SHEET = flags.DEFINE_bool("only_sheet", False, "Only (re)draw the contact sheet.")


def _package_faces(detector, image):
    """The package's detections as (box xyxy, landmarks [5, 2]) of its largest face."""
    found = detector.detect_faces(image)
    if not found:
        return None
    best = max(found, key=lambda d: d["box"][2] * d["box"][3])
    x, y, w, h = best["box"]
    points = np.array([best["keypoints"][k] for k in LANDMARK_NAMES], np.float64)
    return {
        "box": [x, y, x + w, y + h],
        "landmarks": dict(zip(LANDMARK_NAMES, points.tolist(), strict=True)),
    }


def side_by_side(paths, pipeline: FacePipeline) -> dict:
    """Times both pipelines on the same images and compares their landmarks."""
    from mtcnn import MTCNN

    package = MTCNN()
    ours, template = pipeline.detector, pipeline.template
    images = [read_image(p) for p in paths]
    package.detect_faces(images[0])  # warm-up, both sides
    pipeline.crops(images[:2])
    t_ours = t_pkg = 0.0
    n_ours = n_pkg = 0
    distances = []
    for start in range(0, len(images), _CHUNK.value):
        chunk = images[start : start + _CHUNK.value]
        t0 = time.perf_counter()
        crops = pipeline.crops(chunk)
        t_ours += time.perf_counter() - t0
        n_ours += int((~crops.no_face).sum())
        faces = ours.detect_faces(chunk)  # untimed: landmarks for the comparison
        t0 = time.perf_counter()
        pkg = [_package_faces(package, im) for im in chunk]
        pkg_crops = [
            crop_face(im, d, template) if d else None for im, d in zip(chunk, pkg, strict=True)
        ]
        t_pkg += time.perf_counter() - t0
        n_pkg += sum(c is not None for c in pkg_crops)
        for f, d in zip(faces, pkg, strict=True):
            if f and d:
                ours_lm = max(f, key=lambda x: x.area).landmarks
                theirs = np.array([d["landmarks"][k] for k in LANDMARK_NAMES])
                distances.append(np.linalg.norm(ours_lm - theirs, axis=1))
        print(f"  side by side {start + len(chunk)}/{len(images)}", flush=True)
    d = np.concatenate(distances) if distances else np.zeros(1)
    per_face = np.stack(distances).mean(1) if distances else np.zeros(1)
    return {
        "images": len(images),
        "ours_faces": n_ours,
        "package_faces": n_pkg,
        "ours_faces_per_s": n_ours / t_ours,
        "package_faces_per_s": n_pkg / t_pkg,
        "speed_ratio": (n_ours / t_ours) / (n_pkg / t_pkg),
        "landmark_px_median": float(np.median(d)),
        "landmark_px_p95": float(np.percentile(d, 95)),
        "landmark_px_max": float(d.max()),
        "per_face_mean_px_median": float(np.median(per_face)),
        "compared_faces": len(distances),
    }


def yield_run(paths, pipeline: FacePipeline) -> dict:
    """The pipeline's crops of every image; counts images with at least one face."""
    misses, found = [], 0
    t0 = time.perf_counter()
    for start in range(0, len(paths), 256):
        chunk = paths[start : start + 256]
        crops = pipeline.crops(chunk)
        found += int((~crops.no_face).sum())
        misses += [
            str(Path(p).relative_to(Path(_LFW.value)))
            for p, miss in zip(chunk, crops.no_face, strict=True)
            if miss
        ]
        print(f"  yield {start + len(chunk)}/{len(paths)}: {len(misses)} misses", flush=True)
    elapsed = time.perf_counter() - t0
    return {
        "images": len(paths),
        "with_face": found,
        "yield": found / len(paths),
        "misses": misses,
        "faces_per_s_end_to_end": found / elapsed,
        "seconds": elapsed,
    }


def contact_sheet(paths, ours: MTCNNDetector, out: Path, grid: int = 8, tile: int = 80) -> None:
    """Two grid x grid panels (facenet_160 left, dlib_150 right) of the same faces."""
    picks = [paths[i] for i in np.linspace(0, len(paths) - 1, grid * grid).astype(int)]
    gap = 16
    sheet = np.full((28 + grid * tile, 2 * grid * tile + gap, 3), 255, np.uint8)
    for panel, template in enumerate(("facenet_160", "dlib_150")):
        crops = align_faces(picks, template, detector=ours)
        x0 = panel * (grid * tile + gap)
        cv2.putText(sheet, template, (x0 + 4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
        for k, crop in enumerate(crops):
            if crop is None:
                continue
            r, c = divmod(k, grid)
            small = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA)
            sheet[28 + r * tile : 28 + (r + 1) * tile, x0 + c * tile : x0 + (c + 1) * tile] = small
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main(argv):
    del argv
    paths = sorted(str(p) for p in list_images(_LFW.value))
    if not paths:
        raise SystemExit(f"no LFW images under {_LFW.value}")
    if _MAX.value:
        paths = paths[: _MAX.value]
    ours = MTCNNDetector()
    if _ONLY_SHEET.value:
        contact_sheet(paths, ours, Path(_SHEET.value))
        return
    rng = np.random.default_rng(0)
    sample = [
        paths[i]
        for i in sorted(rng.choice(len(paths), min(_SAMPLE.value, len(paths)), replace=False))
    ]
    # NaN rows mark the misses; the pipeline's FaceNotFoundWarning repeats what the
    # report lists.
    warnings.simplefilter("ignore", FaceNotFoundWarning)
    pipeline = FacePipeline(_MODEL.value, detector=ours, on_no_face="nan")
    result = {
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "pipeline": describe(pipeline),
    }
    print("side by side on", len(sample), "images")
    result["side_by_side"] = side_by_side(sample, pipeline)
    print(json.dumps(result["side_by_side"], indent=2))
    contact_sheet(paths, ours, Path(_SHEET.value))
    print("yield on", len(paths), "images")
    result["yield"] = yield_run(paths, pipeline)
    result["load_average_end"] = os.getloadavg()
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result["yield"].items() if k != "misses"}
    print(json.dumps({"side_by_side": result["side_by_side"], "yield": summary}, indent=2))
    print("misses:", *result["yield"]["misses"], sep="\n  ")


if __name__ == "__main__":
    app.run(main)
