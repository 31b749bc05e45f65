r"""Harmonic evaluation: a new model beside its reference, within and across the models.

    nice -n 10 python benchmarks/harmonic_eval.py --model=WORKDIR/model.keras \
        [--reference=dlib_resnet_v1] [--heldout_dir=DIR] [--gallery]

Scores, as FaceNet's harmonic-embedding figure does, three kinds of pairs: new-new,
reference-reference, and cross-model (the first image of a pair embedded by one model, the
second by the other; both orders, and their mean):

* LFW view 2 (``pairs.txt``, 10 folds): each model embeds the photos through its own
  ``FacePipeline`` (detection, its template, flip average: the defaults of
  ``facenet_tf.embed``), and ``PairEvaluator.score(first, second)`` scores the pairs;
* ``--heldout_dir``: a CelebA identity split held out from training, written with
  ``--make_split`` (an LFW-style tree of aligned crops and its 10-fold ``pairs.txt``);
  crops are warped onto each model's template by the pipeline (``aligned=True``);
* ``--gallery``: the cross-model gallery case: every LFW person with >= 2 images enrolled
  with one image embedded by the reference, the others queried with the new model;
  closed-set rank-1 beside reference-only and new-only galleries.

``--make_split`` writes, from aligned CelebA trees (``--aligned_dirs``), a training tree of
the remaining identities (symlinks, one folder per set, to train on) and the held-out
tree. Embeddings are cached under ``--cache_dir``; results go to ``--output`` (JSON).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from benchmarks.training_curves import plot_runs, read_stages  # noqa: E402

_MODEL = flags.DEFINE_string("model", None, "The new model: registry name or .keras file.")
_REFERENCE = flags.DEFINE_string("reference", "dlib_resnet_v1", "The reference model.")
_LFW_DIR = flags.DEFINE_string("lfw_dir", str(DATA / "lfw" / "lfw-deepfunneled"), "LFW tree.")
_PAIRS = flags.DEFINE_string("pairs", str(DATA / "lfw" / "pairs.txt"), "LFW view 2 pairs.")
_HELDOUT = flags.DEFINE_string("heldout_dir", "", "Held-out CelebA split (--make_split).")
_HELDOUT_TEMPLATE = flags.DEFINE_string(
    "heldout_template", "mobile_112", "Template the held-out crops were aligned with."
)
_GALLERY = flags.DEFINE_boolean("gallery", False, "Cross-model gallery rank-1 on LFW.")
_CACHE = flags.DEFINE_string("cache_dir", "/tmp/facenet_tf_harmonic_eval", "Embedding cache.")
_OUTPUT = flags.DEFINE_string(
    "output", str(REPO / "benchmarks" / "results" / "harmonic_eval.json"), "JSON results."
)
_MAKE_SPLIT = flags.DEFINE_string("make_split", "", "Write train/ and heldout/ here, then stop.")
_ALIGNED = flags.DEFINE_list("aligned_dirs", [], "Aligned CelebA trees to split (merged by id).")
_EVERY = flags.DEFINE_integer("heldout_every", 10, "Hold out one identity in this many.")
_PER_FOLD = flags.DEFINE_integer("pairs_per_fold", 150, "Matched (and mismatched) per fold.")
_SEED = flags.DEFINE_integer("seed", 0, "Split and pair seed.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "", "Evaluate this training checkpoint (ckpt-N prefix) instead of --model."
)
_ARCHITECTURE = flags.DEFINE_string(
    "architecture", "mobilefacenet", "Registry architecture the --checkpoint restores into."
)
_NOLFW = flags.DEFINE_boolean("skip_lfw", False, "Skip LFW view 2 (e.g. for checkpoints).")
_PLOT = flags.DEFINE_string(
    "plot", "", "Draw the training curves of --runs to this PNG, then stop."
)
_RUNS = flags.DEFINE_list(
    "runs", [], "label=workdir of training runs for --plot (workdir1+workdir2 for stages)."
)


def cross_model_scores(evaluator, new: np.ndarray, ref: np.ndarray) -> dict[str, dict]:
    """PairEvaluator scores of new-new, ref-ref and both cross-model orders.

    Args:
        evaluator: a ``PairEvaluator``.
        new, ref: [K, D] each model's vectors of the evaluator's images (``keys`` order).
    """
    return {
        "new_new": evaluator.score(new),
        "ref_ref": evaluator.score(ref),
        "new_ref": evaluator.score(new, ref),
        "ref_new": evaluator.score(ref, new),
    }


def gallery_rank1(labels: list[str], new: np.ndarray, ref: np.ndarray, seed: int = 0) -> dict:
    """Closed-set rank-1 with one gallery image per person (>= 2 images), the rest probes.

    Returns:
        rank-1 for gallery/probe models ref/new (the harmonic case), ref/ref and new/new.
    """
    from facenet_tf.eval.identification import probe_ranks, split_gallery_probe

    split = split_gallery_probe(labels, seed=seed)
    g_labels = [labels[i] for i in split.gallery]
    p_labels = [labels[i] for i in split.probes]
    out = {"num_gallery": len(split.gallery), "num_probes": len(split.probes)}
    for name, gallery, probes in (
        ("ref_new", ref, new),
        ("ref_ref", ref, ref),
        ("new_new", new, new),
    ):
        ranks = probe_ranks(gallery[split.gallery], g_labels, probes[split.probes], p_labels)
        out[f"rank1_{name}"] = float(np.mean(ranks == 1))
    return out


def make_split(aligned_dirs: list[str], out: Path, every: int, per_fold: int, seed: int) -> dict:
    """Identity split of aligned trees: ``out/train/{set}/{id}`` (symlinked folders) and
    ``out/heldout/{id}/{id}_{NNNN}.jpg`` (symlinked crops) with a 10-fold ``pairs.txt``.

    One identity in ``every`` among those with >= 2 images (seeded) is held out.
    """
    from facenet_tf.data.folder import scan_folder_tree

    index = scan_folder_tree(aligned_dirs)
    counts = np.bincount(index.labels, minlength=index.num_classes)
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= 2)
    held = set(rng.choice(eligible, size=len(eligible) // every, replace=False).tolist())
    held_names = {index.class_names[k] for k in held}
    for d in aligned_dirs:
        dest = out / "train" / Path(d).name
        dest.mkdir(parents=True, exist_ok=True)
        for entry in sorted(os.listdir(d)):
            link = dest / entry
            if (
                entry not in held_names
                and os.path.isdir(os.path.join(d, entry))
                and not link.exists()
            ):
                link.symlink_to(os.path.realpath(os.path.join(d, entry)))
    files: dict[str, list[str]] = {}
    for path, label in zip(index.paths, index.labels, strict=True):
        if label in held:
            files.setdefault(index.class_names[label], []).append(path)
    heldout = out / "heldout"
    for name, paths in files.items():
        (heldout / name).mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(paths, 1):
            link = heldout / name / f"{name}_{i:04d}.jpg"
            if not link.exists():
                link.symlink_to(os.path.realpath(path))
    names = sorted(files)
    lines = [f"10\t{per_fold}"]
    for _ in range(10):
        for _ in range(per_fold):
            name = names[rng.integers(len(names))]
            i, j = rng.choice(len(files[name]), size=2, replace=False) + 1
            lines.append(f"{name}\t{i}\t{j}")
        for _ in range(per_fold):
            a, b = rng.choice(len(names), size=2, replace=False)
            i, j = rng.integers(len(files[names[a]])) + 1, rng.integers(len(files[names[b]])) + 1
            lines.append(f"{names[a]}\t{i}\t{names[b]}\t{j}")
    (heldout / "pairs.txt").write_text("\n".join(lines) + "\n")
    return {"heldout_identities": len(names), "heldout_images": sum(map(len, files.values()))}


def restore_checkpoint(checkpoint: str, architecture: str, out: Path) -> str:
    """Writes the model weights of training checkpoint ``checkpoint`` (a ``ckpt-N`` prefix
    of ``facenet_tf.train``) into a registry ``architecture`` saved as ``out``; returns
    its path as a string."""
    import tensorflow as tf

    import facenet_tf

    model = facenet_tf.create_model(architecture)
    tf.train.Checkpoint(model=model).restore(checkpoint).expect_partial()
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return str(out)


def _embed(
    model: str, paths: list[str], tag: str, on_no_face: str = "raise", **embed_kwargs
) -> np.ndarray:
    """Embeddings through the model's ``FacePipeline`` (the code of ``facenet_tf.embed``,
    with its defaults; ``embed_kwargs`` for aligned crops), cached by model, its weights,
    tag and paths (so new weights under the same name are never served old vectors)."""
    import hashlib

    from facenet_tf.face_pipeline import FacePipeline
    from facenet_tf.inference import get_embedder
    from facenet_tf.pretrained.cache import weights_sha256

    embedder = get_embedder(model)
    weights = weights_sha256(embedder.model)
    policy = [] if on_no_face == "raise" else [on_no_face]
    key = json.dumps([model, weights, tag, paths, *policy, sorted(embed_kwargs.items())])
    cache = Path(_CACHE.value) / f"{tag}_{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
    if cache.is_file():
        return np.load(cache)
    pipeline = FacePipeline(embedder, on_no_face=on_no_face)
    vectors = pipeline.embed(paths, **embed_kwargs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def _summary(scores: dict) -> dict:
    keys = ("accuracy_mean", "accuracy_std", "val_mean", "auc")
    return {k: {m: v[m] for m in keys if m in v} for k, v in scores.items()}


def main(argv: list[str]) -> int:
    del argv
    if _MAKE_SPLIT.value:
        stats = make_split(
            _ALIGNED.value, Path(_MAKE_SPLIT.value), _EVERY.value, _PER_FOLD.value, _SEED.value
        )
        print(json.dumps(stats))
        return 0
    if _PLOT.value:
        runs = dict(item.split("=", 1) for item in _RUNS.value)
        weights = {
            label: json.loads((Path(w.split("+")[0]) / "config.json").read_text()).get(
                "harmonic_weight", 0.0
            )
            for label, w in runs.items()
        }
        records = {label: read_stages(workdirs) for label, workdirs in runs.items()}
        plot_runs(records, weights, _PLOT.value)
        return 0
    model = _MODEL.value
    if _CHECKPOINT.value:
        name = Path(_CHECKPOINT.value).name
        out = (
            Path(_CACHE.value)
            / "checkpoints"
            / f"{Path(_CHECKPOINT.value).parent.parent.name}_{name}.keras"
        )
        model = restore_checkpoint(_CHECKPOINT.value, _ARCHITECTURE.value, out)
    if not model:
        raise app.UsageError("--model or --checkpoint is required")
    from facenet_tf.eval.evaluator import PairEvaluator

    results: dict = {"model": model, "checkpoint": _CHECKPOINT.value, "reference": _REFERENCE.value}
    if not _NOLFW.value:
        lfw = PairEvaluator(_PAIRS.value, _LFW_DIR.value)
        paths = [str(p) for p in lfw.paths]
        new = _embed(model, paths, "lfw")
        ref = _embed(_REFERENCE.value, paths, "lfw")
        results["lfw_view2"] = _summary(cross_model_scores(lfw, new, ref))
    if _HELDOUT.value:
        held = PairEvaluator(Path(_HELDOUT.value) / "pairs.txt", _HELDOUT.value)
        kwargs = {"aligned": True, "source_template": _HELDOUT_TEMPLATE.value}
        paths = [str(p) for p in held.paths]
        new = _embed(model, paths, "heldout", **kwargs)
        ref = _embed(_REFERENCE.value, paths, "heldout", **kwargs)
        results["celeba_heldout"] = _summary(cross_model_scores(held, new, ref))
    if _GALLERY.value:
        people = sorted(os.listdir(_LFW_DIR.value))
        paths, labels = [], []
        for name in people:
            files = sorted(os.listdir(os.path.join(_LFW_DIR.value, name)))
            if len(files) >= 2:
                paths += [os.path.join(_LFW_DIR.value, name, f) for f in files]
                labels += [name] * len(files)
        # Photos where either model's pipeline finds no face are left out (and counted).
        new = _embed(model, paths, "gallery", on_no_face="nan")
        ref = _embed(_REFERENCE.value, paths, "gallery", on_no_face="nan")
        keep = ~(np.isnan(new).any(axis=1) | np.isnan(ref).any(axis=1))
        kept = [label for label, k in zip(labels, keep, strict=True) if k]
        results["lfw_gallery"] = {
            "photos_without_face": int((~keep).sum()),
            **gallery_rank1(kept, new[keep], ref[keep], _SEED.value),
        }
    Path(_OUTPUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUTPUT.value).write_text(json.dumps(results, indent=2) + "\n")
    for section, scores in results.items():
        if isinstance(scores, dict):
            print(section, json.dumps(scores))
    return 0


if __name__ == "__main__":
    app.run(main)
