"""LFW 10-fold accuracy of the default model through our own pipeline, beside dlib's.

Our pipeline: MTCNN (``facenet_tf.align``) -> the face closest to the image centre (LFW
centres the labelled person) -> similarity transform to the model's template ->
``dlib_resnet_v1`` (Keras) -> unit vectors, squared L2; optionally flip test-time
augmentation (mean of the chip's and its mirror image's embedding, renormalised).
Images where MTCNN finds no face are embedded from a centre crop (0.6 of the side), and
are counted and listed.

Also calibrates the model's default verification threshold on LFW view-1 DevTrain
pairs only (never on view 2) and checks it on DevTest.

The dlib figure comes from ``benchmarks/lfw_dlib_reference.py`` (its JSON report).

Usage:
    python benchmarks/lfw_default_model.py [--model=dlib_resnet_v1]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facenet_tf.eval import pairs as pairs_lib  # noqa: E402
from facenet_tf.eval import verification  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw"
_MODEL = flags.DEFINE_string("model", "dlib_resnet_v1", "Registered model.")
_LFW_DIR = flags.DEFINE_string("lfw_dir", str(LFW / "lfw-deepfunneled"), "LFW tree.")
_PAIRS_DIR = flags.DEFINE_string("pairs_dir", str(LFW), "Folder of pairs*.txt.")
_OUT = flags.DEFINE_string("output", str(ROOT / "benchmarks/results/lfw_default_model.json"), "")
_CACHE = flags.DEFINE_string(
    "cache", "/tmp/facenet_tf_lfw_default_embeddings.npz", "Embedding cache (not committed)."
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "")


def _center_crop(img: np.ndarray, fraction: float = 0.6) -> np.ndarray:
    h, w = img.shape[:2]
    s = int(round(min(h, w) * fraction))
    y, x = (h - s) // 2, (w - s) // 2
    return img[y : y + s, x : x + s]


def embed_images(paths: list[Path], model: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(plain [N, D], flip-averaged [N, D], names of images with no detected face)."""
    from tqdm import tqdm

    from facenet_tf.align import align_faces
    from facenet_tf.inference import get_embedder, resize_to
    from facenet_tf.io.images import read_image

    embedder = get_embedder(model)
    plain, flipped, misses = [], [], []
    for start in tqdm(range(0, len(paths), _BATCH.value), unit="batch"):
        chunk = paths[start : start + _BATCH.value]
        images = [read_image(p) for p in chunk]
        crops = align_faces(images, template=embedder.align_template, policy="most_central")
        pixels = []
        for p, img, crop in zip(chunk, images, crops, strict=True):
            if crop is None:
                misses.append(p.name)
                crop = _center_crop(img)
            pixels.append(resize_to(crop.astype(np.float32), embedder.input_size))
        x = np.stack(pixels)
        plain.append(embedder.embed_pixels(x))
        flipped.append(embedder.embed_pixels(x[:, :, ::-1].copy()))
    a, b = np.concatenate(plain), np.concatenate(flipped)
    both = a + b
    return a, both / np.linalg.norm(both, axis=1, keepdims=True), misses


def main(argv):
    del argv
    lists = {
        name: pairs_lib.read_lfw_pairs(Path(_PAIRS_DIR.value) / f"{name}.txt")
        for name in ("pairs", "pairsDevTrain", "pairsDevTest")
    }
    keys = list(dict.fromkeys(k for pl in lists.values() for k in pl.image_keys()))
    cache = Path(_CACHE.value)
    t0 = time.time()
    if cache.exists() and json.loads(str(np.load(cache)["meta"])) == [_MODEL.value, len(keys)]:
        data = np.load(cache)
        plain, flip, misses = data["plain"], data["flip"], list(data["misses"])
    else:
        paths = [pairs_lib.lfw_image_path(_LFW_DIR.value, n, i) for n, i in keys]
        plain, flip, misses = embed_images(paths, _MODEL.value)
        meta = json.dumps([_MODEL.value, len(keys)])
        np.savez(cache, plain=plain, flip=flip, misses=np.array(misses), meta=meta)
    seconds = time.time() - t0
    index = {k: i for i, k in enumerate(keys)}

    def distances(pl, emb):
        left = [index[(p.name1, p.index1)] for p in pl.pairs]
        right = [index[(p.name2, p.index2)] for p in pl.pairs]
        return verification.pair_distances(emb[left], emb[right], "squared_l2")

    report = {
        "model": _MODEL.value,
        "images": len(keys),
        "no_face": len(misses),
        "no_face_images": misses,
        "embed_seconds": round(seconds, 1),
    }
    for tag, emb in (("plain", plain), ("flip", flip)):
        view2 = lists["pairs"]
        res = verification.kfold_verification(
            distances(view2, emb), view2.issame, view2.folds, far_target=1e-3
        )
        dev = verification.train_test_verification(
            distances(lists["pairsDevTrain"], emb),
            lists["pairsDevTrain"].issame,
            distances(lists["pairsDevTest"], emb),
            lists["pairsDevTest"].issame,
        )
        report[tag] = {"view2": res.to_dict(), "view1": dev}
    ref_path = ROOT / "benchmarks/results/lfw_dlib_reference.json"
    ref = json.loads(ref_path.read_text()) if ref_path.exists() else None
    out = Path(_OUT.value)
    out.write_text(json.dumps(report, indent=1))
    print(f"{'pipeline':<44} {'LFW acc':>16} {'VAL@1e-3':>9} {'DevTrain thr':>12} {'DevTest':>8}")
    if ref:
        v = ref.get("verification", ref)
        print(
            f"{'dlib (HOG + 5-pt + get_face_chip, dlib C++)':<44} "
            f"{100 * v['accuracy_mean']:>8.2f} +- {100 * v['accuracy_std']:.2f} "
            f"{100 * v['val_mean']:>9.2f}"
        )
    for tag in ("plain", "flip"):
        v, d = report[tag]["view2"], report[tag]["view1"]
        print(
            f"{'facenet_tf MTCNN + ' + _MODEL.value + (' + flip' if tag == 'flip' else ''):<44} "
            f"{100 * v['accuracy_mean']:>8.2f} +- {100 * v['accuracy_std']:.2f} "
            f"{100 * v['val_mean']:>9.2f} {d['threshold']:>12.4f} {100 * d['test_accuracy']:>8.2f}"
        )
    print(f"images {len(keys)}, no face found in {len(misses)}; report -> {out}")


if __name__ == "__main__":
    app.run(main)
