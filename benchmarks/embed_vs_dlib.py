"""Faces per second: our Keras ``dlib_resnet_v1`` against dlib's C++ forward pass.

Both run the same network (dlib's ResNet, same weights) on the same 150x150 chips, cut by
dlib itself (frontal detector, 5-landmark shape predictor, ``get_face_chip(size=150,
padding=0.25)``) from the first image of each LFW person, on the same machine:

  * dlib: ``face_recognition_model_v1.compute_face_descriptor(chip)`` at batch 1 and
    ``compute_face_descriptor(list_of_chips)`` (dlib's batch API) at larger batches;
  * ours: the Keras model (pretrained, affine folded into the convolutions at conversion)
    in a ``tf.function`` (XLA-compiled unless ``--nojit_compile``) on float32 batches.

The measurements interleave the two implementations repeat by repeat, so a machine shared
with other work slows both alike; the table gives the median over repeats, and the ratio
ours / dlib at each batch size. dlib runs on one thread, TensorFlow on all cores; the CPU
columns (process CPU time over all threads, per face) give the work each one spends, a
figure that a busy machine disturbs less than wall time. The outputs are also compared (max abs difference of the
raw descriptors) so the speed is that of a correct forward pass.

Usage (from the repository root):
    nice -n 10 python benchmarks/embed_vs_dlib.py
    nice -n 10 python benchmarks/embed_vs_dlib.py --batch_sizes=1,64 --repeats=5
"""

from __future__ import annotations

import csv
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_LFW = REPO.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
LFW_DIR = flags.DEFINE_string("lfw_dir", str(_LFW), "LFW deep-funneled image tree.")
BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "64"], "Batch sizes to time.")
BATCH1_FACES = flags.DEFINE_integer("batch1_faces", 16, "Chips timed one by one per repeat.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats (after one warm-up).")
JIT = flags.DEFINE_boolean("jit_compile", True, "XLA-compile our forward pass.")
OUTPUT = flags.DEFINE_string(
    "output", str(REPO / "benchmarks" / "results" / "embed_vs_dlib.csv"), "CSV written here."
)


@dataclasses.dataclass(frozen=True)
class Config:
    lfw_dir: Path
    batch_sizes: tuple[int, ...]
    batch1_faces: int
    repeats: int
    jit_compile: bool
    output: Path

    def __post_init__(self):
        if not self.lfw_dir.is_dir():
            raise ValueError(f"--lfw_dir={self.lfw_dir}: not a folder")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"--batch_sizes={self.batch_sizes}: need positive sizes")
        if self.repeats < 1 or self.batch1_faces < 1:
            raise ValueError("--repeats and --batch1_faces must be positive")


def make_chips(lfw_dir: Path, count: int) -> np.ndarray:
    """uint8 [count, 150, 150, 3] RGB chips cut by dlib from the first image per person."""
    import dlib

    from facenet_tf.io.files import list_images
    from facenet_tf.pretrained.dlib_reader import SHAPE_PREDICTOR_5_FILE, find_model_file

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(find_model_file(SHAPE_PREDICTOR_5_FILE)))
    chips = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        photos = list_images(person, recursive=False)
        if not photos:
            continue
        image = dlib.load_rgb_image(str(photos[0]))
        faces = detector(image, 0)
        if faces:
            shape = predictor(image, faces[0])
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        if len(chips) == count:
            break
    return np.stack(chips)


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process over all its threads) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(config: Config) -> list[dict]:
    """Times both implementations; returns one row per (implementation, batch size)."""
    import dlib
    import tensorflow as tf

    from facenet_tf.models import create_model
    from facenet_tf.models.dlib_resnet import dlib_descriptor_model
    from facenet_tf.pretrained.dlib_reader import find_model_file

    n_chips = max(max(config.batch_sizes), config.batch1_faces)
    chips = make_chips(config.lfw_dir, n_chips)
    net = dlib.face_recognition_model_v1(str(find_model_file()))
    model = create_model("dlib_resnet_v1", pretrained=True)
    raw = dlib_descriptor_model(model)
    forward = tf.function(
        lambda x: raw(x, training=False), jit_compile=config.jit_compile, reduce_retracing=True
    )

    def ours(batch: np.ndarray) -> np.ndarray:
        return forward(tf.constant(batch, tf.float32)).numpy()

    def theirs(batch: np.ndarray) -> np.ndarray:
        if len(batch) == 1:
            return np.array([net.compute_face_descriptor(batch[0])])
        return np.array(net.compute_face_descriptor(list(batch)))

    # Correctness first (and warm-up: tracing, XLA compilation, dlib's buffers).
    diff = float(np.abs(ours(chips) - theirs(chips)).max())
    print(f"{len(chips)} chips; max |ours - dlib| on raw descriptors: {diff:.3g}")

    times: dict[tuple[str, int], list[float]] = {}
    cpu_ms: dict[tuple[str, int], list[float]] = {}
    for batch_size in config.batch_sizes:
        faces = config.batch1_faces if batch_size == 1 else batch_size
        batches = [chips[i : i + batch_size] for i in range(0, faces, batch_size)]
        for fn in (ours, theirs):
            fn(batches[0])  # warm-up at this batch size
        for _ in range(config.repeats):
            for name, fn in (("dlib", theirs), ("ours", ours)):
                wall, cpu = _timed(lambda fn=fn, bs=batches: [fn(b) for b in bs])
                times.setdefault((name, batch_size), []).append(faces / wall)
                cpu_ms.setdefault((name, batch_size), []).append(1000.0 * cpu / faces)
    rows = []
    for batch_size in config.batch_sizes:
        dlib_fps = float(np.median(times[("dlib", batch_size)]))
        dlib_cpu = float(np.median(cpu_ms[("dlib", batch_size)]))
        for name in ("dlib", "ours"):
            fps = float(np.median(times[(name, batch_size)]))
            cpu = float(np.median(cpu_ms[(name, batch_size)]))
            rows.append(
                {
                    "implementation": "dlib compute_face_descriptor"
                    if name == "dlib"
                    else f"facenet_tf keras ({'XLA' if config.jit_compile else 'tf.function'})",
                    "batch_size": batch_size,
                    "faces_per_s": round(fps, 2),
                    "ms_per_face": round(1000.0 / fps, 2),
                    "ratio_vs_dlib": round(fps / dlib_fps, 2),
                    "cpu_ms_per_face": round(cpu, 2),
                    "cpu_ratio_vs_dlib": round(dlib_cpu / cpu, 2),
                    "repeats": config.repeats,
                    "max_abs_diff": f"{diff:.3g}",
                    "cpu": f"{platform.processor() or platform.machine()} x{os.cpu_count()}",
                    "load_avg_1min": round(os.getloadavg()[0], 2),
                }
            )
    return rows


def write_and_print(rows: list[dict], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        "\n| implementation | batch | faces/s | ms/face | ratio vs dlib "
        "| CPU ms/face | CPU-time ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['implementation']} | {r['batch_size']} | {r['faces_per_s']:.1f} | "
            f"{r['ms_per_face']:.1f} | {r['ratio_vs_dlib']:.2f}x | {r['cpu_ms_per_face']:.1f} | "
            f"{r['cpu_ratio_vs_dlib']:.2f}x |"
        )
    print(f"\nload average (1 min) at the end: {rows[-1]['load_avg_1min']}; written: {output}")


def main(argv: list[str]) -> None:
    del argv
    config = Config(
        lfw_dir=Path(LFW_DIR.value),
        batch_sizes=tuple(int(b) for b in BATCH_SIZES.value),
        batch1_faces=BATCH1_FACES.value,
        repeats=REPEATS.value,
        jit_compile=JIT.value,
        output=Path(OUTPUT.value),
    )
    write_and_print(run(config), config.output)


if __name__ == "__main__":
    app.run(main)
