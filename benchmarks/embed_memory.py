"""Peak memory of ``facenet_tf.embed`` on many photos and on one very large photo.

Run under ``/usr/bin/time -v`` (its "Maximum resident set size" is the figure):

    /usr/bin/time -v python benchmarks/embed_memory.py --paths=10000
    /usr/bin/time -v python benchmarks/embed_memory.py --big_photo=100

``--paths=N`` embeds the first N LFW photos (sorted) with the defaults and
``on_no_face="nan"`` (a batch job goes on past a photo without a face);
``--big_photo=M`` writes an M-megapixel JPEG (an LFW photo scaled up) to a temporary
folder and embeds it after one small photo (which loads the model), printing the seconds
each ``embed`` call took.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_LFW = flags.DEFINE_string(
    "lfw_dir", str(ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"), "LFW tree."
)
_PATHS = flags.DEFINE_integer("paths", 0, "Embed the first N LFW photos.")
_BIG = flags.DEFINE_integer("big_photo", 0, "Embed one photo of this many megapixels.")


def main(argv):
    del argv
    import facenet_tf

    if _PATHS.value:
        paths = sorted(str(p) for p in Path(_LFW.value).glob("*/*.jpg"))[: _PATHS.value]
        start = time.perf_counter()
        out = facenet_tf.embed(paths, on_no_face="nan")
        seconds = time.perf_counter() - start
        print(f"{len(paths)} photos -> {out.shape} in {seconds:.1f} s "
              f"({len(paths) / seconds:.1f} photos/s), {int(np.isnan(out[:, 0]).sum())} no face")  # fmt: skip
    if _BIG.value:
        import cv2

        side = int(round(np.sqrt(_BIG.value * 1e6)))
        photo = cv2.imread(str(next(iter(sorted(Path(_LFW.value).glob("*/*.jpg"))))))
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "big.jpg")
            cv2.imwrite(path, cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC))
            small = str(Path(tmp) / "small.jpg")
            cv2.imwrite(small, photo)
            del photo
            start = time.perf_counter()
            facenet_tf.embed(small)  # loads the model and detector, traces the functions
            warm = time.perf_counter() - start
            start = time.perf_counter()
            out = facenet_tf.embed(path)
            print(f"{side}x{side} photo -> {out.shape} in {time.perf_counter() - start:.1f} s "
                  f"(after {warm:.1f} s to load the model with one small photo)")  # fmt: skip


if __name__ == "__main__":
    app.run(main)
