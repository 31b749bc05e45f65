r"""End-to-end photos/s of ``facenet_tf.embed(paths)`` on LFW view-2 photos, its defaults.

    nice -n 10 python benchmarks/embed_photos.py                 # all 7,701 view-2 photos
    nice -n 10 python benchmarks/embed_photos.py --photos=512    # the first 512

One call embeds the photos of LFW's ``pairs.txt`` (the 7,701 distinct images, in the
evaluator's order) from their paths: decode, MTCNN detection, alignment, the default
model and flip test-time augmentation, exactly as a user's call. The peer is the same
call with the background prefetch off (``face_pipeline.PREFETCH_CHUNKS = 0``: decode and
detect, then embed, one chunk at a time). The two run alternately, ``--rounds`` times
each, after a warm-up call, so load from other processes hits both alike; the table gives
the median photos/s and the largest difference between their vectors (they must agree).
Writes ``benchmarks/results/embed_photos.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
_LFW = flags.DEFINE_string(
    "lfw_dir", str(ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"), "LFW images."
)
_PAIRS = flags.DEFINE_string(
    "pairs", str(ROOT.parent / "shared" / "data" / "lfw" / "pairs.txt"), "LFW view-2 pairs."
)
_PHOTOS = flags.DEFINE_integer("photos", 0, "Photos per call (0: every view-2 photo).")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Timed calls of each side, alternating.")
_OUT = flags.DEFINE_string(
    "output", str(ROOT / "benchmarks" / "results" / "embed_photos.json"), "JSON written here."
)


def main(argv):
    del argv
    sys.path.insert(0, str(ROOT))
    import facenet_tf
    from facenet_tf import face_pipeline
    from facenet_tf.eval.evaluator import PairEvaluator

    paths = [str(p) for p in PairEvaluator(_PAIRS.value, _LFW.value).paths]
    if _PHOTOS.value:
        paths = paths[: _PHOTOS.value]
    prefetch = face_pipeline.PREFETCH_CHUNKS

    def call(ahead: bool) -> tuple[float, np.ndarray]:
        face_pipeline.PREFETCH_CHUNKS = prefetch if ahead else 0
        try:
            start = time.perf_counter()
            vectors = facenet_tf.embed(paths)
            return time.perf_counter() - start, vectors
        finally:
            face_pipeline.PREFETCH_CHUNKS = prefetch

    load_start = os.getloadavg()
    facenet_tf.embed(paths[:128])  # warm-up: model, detector, compiled shapes
    seconds: dict[str, list[float]] = {"ours": [], "serial": []}
    vectors: dict[str, np.ndarray] = {}
    for r in range(_ROUNDS.value):
        for side in ("ours", "serial") if r % 2 == 0 else ("serial", "ours"):
            took, vectors[side] = call(side == "ours")
            seconds[side].append(took)
            print(f"  {side}: {len(paths) / took:.1f} photos/s", flush=True)
    rate = {k: len(paths) / float(np.median(v)) for k, v in seconds.items()}
    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "photos": len(paths),
        "defaults": {"model": facenet_tf.default_model_name(), "flip": True},
        "prefetch_chunks": prefetch,
        "photos_per_second": rate,
        "seconds_all_rounds": seconds,
        "ours_over_serial": rate["ours"] / rate["serial"],
        "max_abs_vector_difference": float(np.nanmax(np.abs(vectors["ours"] - vectors["serial"]))),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
