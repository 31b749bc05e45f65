"""Library behind ``python -m facenet_tf.eval.evaluate`` (no flags here).

``run(config)`` embeds the LFW images named in a pairs file through the face pipeline
(``facenet_tf.FacePipeline``, the code of ``facenet_tf.embed``) and an embedding cache,
runs the 10-fold verification protocol with the one ``PairEvaluator``, optionally view 1
(DevTrain threshold applied to DevTest), identification on the whole LFW tree and
clustering of identities with several images, and writes ``report.json``, ``roc.png``
and ``clusters.png``. Photos with no detectable face follow the pipeline's ``on_no_face``
policy; the report counts and lists them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.align.face_align import DEFAULT_POLICY, ONE_FACE_POLICIES
from facenet_tf.distances import DISTANCES, PAPER_THRESHOLD
from facenet_tf.errors import InvalidInputError, NoFaceError
from facenet_tf.eval import clustering, identification, pairs, report, verification
from facenet_tf.eval.cache import EmbeddingCache
from facenet_tf.eval.evaluator import PairEvaluator
from facenet_tf.face_pipeline import DEFAULT_FLIP

EmbedFn = Callable[[Sequence[Any]], np.ndarray]
ComputeFn = Callable[[Sequence[Any]], tuple[np.ndarray, np.ndarray]]
# A vector is needed for every image that pairs name, so "nan" is not offered here.
NO_FACE_POLICIES = ("whole_image", "raise")
PROJECTIONS = ("pca", "tsne")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Validated settings of one evaluation run.

    Attributes:
        model: registered model name or ``.keras`` path ("" = the default model).
        lfw_dir: LFW image tree (``{Name}/{Name}_{NNNN}.jpg``).
        pairs: view-2 ``pairs.txt``.
        workdir: where ``report.json``, ``roc.png``, ``clusters.png`` and the embedding
            cache go.
        distance: "squared_l2", "cosine" or "euclidean".
        far_target: FAR for VAL.
        face: which face of a photo the pipeline embeds (``facenet_tf.embed``'s ``face``).
        flip: flip test-time augmentation in the pipeline (``facenet_tf.embed``'s ``flip``).
        aligned: the images are already aligned crops (skip detection).
        on_no_face: "whole_image" or "raise" (the pipeline's policies).
        batch_size: images per embedding call.
        cache_dir: embedding cache folder ("" = ``workdir/embedding_cache``).
        dev_train_pairs, dev_test_pairs: optional view-1 files.
        identification: also run identification over every image of ``lfw_dir``.
        clustering: also cluster the pair images of identities with enough images.
        cluster_min_images: images an identity needs to take part in clustering.
        plot_identities: identities drawn in the 2-D cluster plot.
        projection: "pca" or "tsne" for the plot.
        seed: seed of k-means and t-SNE.
        progress: show progress bars.
    """

    model: str
    lfw_dir: str
    pairs: str
    workdir: str
    distance: str = "squared_l2"
    far_target: float = 1e-3
    face: str = DEFAULT_POLICY
    flip: bool = DEFAULT_FLIP
    aligned: bool = False
    on_no_face: str = "whole_image"
    batch_size: int = 64
    cache_dir: str = ""
    dev_train_pairs: str = ""
    dev_test_pairs: str = ""
    identification: bool = False
    clustering: bool = True
    cluster_min_images: int = 6
    plot_identities: int = 8
    projection: str = "pca"
    seed: int = 0
    progress: bool = True

    def validate(self) -> EvalConfig:
        """Checks every field; returns self. Raises InvalidInputError naming the field."""
        if not Path(self.lfw_dir).is_dir():
            raise InvalidInputError(f"lfw_dir: {self.lfw_dir!r} is not a folder")
        if not Path(self.pairs).is_file():
            raise InvalidInputError(f"pairs: {self.pairs!r} is not a file")
        if not self.workdir:
            raise InvalidInputError("workdir: required")
        if self.distance not in DISTANCES:
            raise InvalidInputError(f"distance: one of {DISTANCES}, got {self.distance!r}")
        if self.face not in ONE_FACE_POLICIES:
            raise InvalidInputError(f"face: one of {ONE_FACE_POLICIES}, got {self.face!r}")
        if not 0.0 < self.far_target < 1.0:
            raise InvalidInputError(f"far_target: must lie in (0, 1), got {self.far_target}")
        if self.on_no_face not in NO_FACE_POLICIES:
            raise InvalidInputError(
                f"on_no_face: one of {NO_FACE_POLICIES}, got {self.on_no_face!r}"
            )
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size: must be >= 1, got {self.batch_size}")
        if bool(self.dev_train_pairs) != bool(self.dev_test_pairs):
            raise InvalidInputError("dev_train_pairs and dev_test_pairs: give both or neither")
        for name in ("dev_train_pairs", "dev_test_pairs"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise InvalidInputError(f"{name}: {value!r} is not a file")
        if self.cluster_min_images < 2 or self.plot_identities < 2:
            raise InvalidInputError("cluster_min_images and plot_identities: must be >= 2")
        if self.projection not in PROJECTIONS:
            raise InvalidInputError(f"projection: one of {PROJECTIONS}, got {self.projection!r}")
        return self


def pipeline_compute(config: EvalConfig) -> tuple[ComputeFn, str]:
    """(compute_fn, cache key) embedding items through ``config``'s ``FacePipeline``."""
    from facenet_tf.eval.cache import model_identity
    from facenet_tf.face_pipeline import FacePipeline, describe

    pipeline = FacePipeline(
        config.model or None, face=config.face, flip=config.flip,
        on_no_face=config.on_no_face, batch_size=config.batch_size,
    )  # fmt: skip

    def compute(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        crops = pipeline.crops(list(items), aligned=config.aligned)
        return pipeline.embed_crops(crops.pixels), crops.no_face

    settings = describe(pipeline) | {"aligned": config.aligned}
    return compute, f"{model_identity(pipeline.embedder.model)}|{sorted(settings.items())}"


def injected_compute(embed_fn: EmbedFn) -> ComputeFn:
    """A compute function over an injected ``embed_fn``; NaN rows raise ``NoFaceError``."""

    def compute(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        emb = np.asarray(embed_fn(list(items)), dtype=np.float32)
        bad = [str(items[i]) for i in np.flatnonzero(~np.isfinite(emb).all(axis=1))]
        if bad:
            raise NoFaceError(f"no embedding for {len(bad)} image(s): {', '.join(bad[:10])}")
        return emb, np.zeros(len(emb), bool)

    return compute


def _embed_paths(
    paths: Sequence[Path], config: EvalConfig, cache: EmbeddingCache, compute: ComputeFn
) -> tuple[np.ndarray, np.ndarray]:
    return cache.embed(list(paths), compute, config.batch_size, progress=config.progress)


def _lfw_tree(lfw_dir: str) -> tuple[list[tuple[str, int]], list[str]]:
    keys = []
    for d in sorted(p for p in Path(lfw_dir).iterdir() if p.is_dir()):
        for f in sorted(d.glob(f"{d.name}_*.jpg")):
            keys.append((d.name, int(f.stem.rsplit("_", 1)[1])))
    return keys, [k[0] for k in keys]


def _clustering(
    keys: list[tuple[str, int]], emb: np.ndarray, config: EvalConfig, threshold: float
) -> tuple[dict[str, Any], tuple[np.ndarray, list[str], np.ndarray] | None]:
    names = [k[0] for k in keys]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    chosen = sorted(n for n, c in counts.items() if c >= config.cluster_min_images)
    if len(chosen) < 2:
        return {
            "skipped": f"fewer than 2 identities with >= {config.cluster_min_images} images"
        }, None
    chosen_set = set(chosen)
    sel = np.asarray([i for i, n in enumerate(names) if n in chosen_set])
    x, lab = emb[sel], [names[i] for i in sel]
    k = len(chosen)
    runs = {
        "agglomerative_k": dict(method="agglomerative", n_clusters=k),
        "agglomerative_threshold": dict(method="agglomerative", distance_threshold=threshold),
        "kmeans_k": dict(method="kmeans", n_clusters=k, seed=config.seed),
        "dbscan": dict(method="dbscan", eps=threshold, min_samples=2),
        "hdbscan": dict(method="hdbscan", min_cluster_size=2, min_samples=2),
    }
    out: dict[str, Any] = {
        "identities": k,
        "images": int(sel.size),
        "min_images": config.cluster_min_images,
        "threshold_squared_l2": threshold,
    }
    for name, kwargs in runs.items():
        out[name] = clustering.clustering_scores(
            lab, clustering.cluster_embeddings(x, **kwargs)
        ).to_dict()
    top = set(sorted(chosen, key=lambda n: (-counts[n], n))[: config.plot_identities])
    psel = np.asarray([i for i, n in enumerate(lab) if n in top])
    found = clustering.cluster_embeddings(x[psel], "agglomerative", n_clusters=len(top))
    return out, (x[psel], [lab[i] for i in psel], found)


def run(
    config: EvalConfig, embed_fn: EmbedFn | None = None, model_key: str | None = None
) -> dict[str, Any]:
    """Runs the evaluation and writes its report files.

    Args:
        config: validated settings.
        embed_fn: items -> float [n, D] replacing the face pipeline (tests, foreign
            models); None embeds with ``config``'s ``FacePipeline``.
        model_key: cache identity of an injected ``embed_fn`` (default
            ``"injected:" + config.model``).

    Returns:
        The report dict (also written to ``workdir/report.json``).
    """
    config.validate()
    start = time.time()
    if embed_fn is None:
        compute, model_key = pipeline_compute(config)
    else:
        compute, model_key = injected_compute(embed_fn), model_key or f"injected:{config.model}"
    out_dir = Path(config.workdir)
    cache = EmbeddingCache(config.cache_dir or out_dir / "embedding_cache", model_key)

    def evaluator(path: str) -> PairEvaluator:
        return PairEvaluator(
            path, config.lfw_dir, distance=config.distance, far_target=config.far_target
        )

    view2 = evaluator(config.pairs)
    emb, no_face = _embed_paths(view2.paths, config, cache, compute)
    result = view2.kfold(emb)
    rep: dict[str, Any] = {
        "model": config.model,
        "model_key": model_key,
        "config": dataclasses.asdict(config),
        "pairs": {
            "file": config.pairs,
            "num_pairs": len(view2),
            "num_folds": view2.pairs.num_folds,
            "num_images": len(view2.keys),
        },  # fmt: skip
        "no_face": {
            "policy": config.on_no_face,
            "count": int(no_face.sum()),
            "images": [
                str(pairs.lfw_image_path("", *view2.keys[i])) for i in np.flatnonzero(no_face)
            ],
        },
        "verification": result.to_dict(),
    }
    cluster_threshold = PAPER_THRESHOLD
    if config.dev_train_pairs:
        dev = {}
        for name, path in (("train", config.dev_train_pairs), ("test", config.dev_test_pairs)):
            ev = evaluator(path)
            e, _ = _embed_paths(ev.paths, config, cache, compute)
            dev[name] = (ev.distances(e), ev.issame)
        rep["view1"] = verification.train_test_verification(*dev["train"], *dev["test"])
        if config.distance == "squared_l2":
            cluster_threshold = rep["view1"]["threshold"]
    if config.identification:
        all_keys, labels = _lfw_tree(config.lfw_dir)
        all_paths = [pairs.lfw_image_path(config.lfw_dir, n, i) for n, i in all_keys]
        all_emb, all_nf = _embed_paths(all_paths, config, cache, compute)
        rep["identification"] = identification.evaluate_identification(
            all_emb, labels, distance=config.distance
        ).to_dict()
        rep["identification"]["no_face_count"] = int(all_nf.sum())
    keys = view2.keys
    files = {
        "report": str(out_dir / "report.json"),
        "roc": str(report.plot_roc(out_dir / "roc.png", {config.model: result.roc})),
    }
    if config.clustering:
        rep["clustering"], plot = _clustering(keys, emb, config, cluster_threshold)
        if plot is not None:
            x, lab, found = plot
            files["clusters"] = str(
                report.plot_clusters(out_dir / "clusters.png", x, lab, list(found), config.projection,
                                     title=config.model, seed=config.seed)
            )  # fmt: skip
    rep["cache"] = {"file": str(cache.path), "hits": cache.hits, "misses": cache.misses}
    rep["files"] = files
    rep["seconds"] = round(time.time() - start, 2)
    report.write_json(out_dir / "report.json", rep)
    return rep


def summary_lines(rep: dict[str, Any]) -> list[str]:
    """Human-readable lines of a report."""
    v = rep["verification"]
    lines = [
        f"LFW 10-fold accuracy: {100 * v['accuracy_mean']:.2f}% +- {100 * v['accuracy_std']:.2f}",
        f"VAL @ FAR={v['far_target']:g}: {100 * v['val_mean']:.2f}% +- {100 * v['val_std']:.2f} "
        f"(FAR {100 * v['far_mean']:.3f}%)",
        f"AUC {v['auc']:.4f}, EER {100 * v['eer']:.2f}%",
        f"no face found in {rep['no_face']['count']} image(s) (policy {rep['no_face']['policy']})",
    ]
    if "view1" in rep:
        lines.append(f"view 1: DevTrain threshold {rep['view1']['threshold']:.4f}, "
                     f"DevTest accuracy {100 * rep['view1']['test_accuracy']:.2f}%")  # fmt: skip
    if "identification" in rep:
        i = rep["identification"]
        lines.append(
            f"identification: rank-1 {100 * i['rank1']:.2f}%, rank-5 {100 * i['rank5']:.2f}%"
        )
    lines.append(f"cache: {rep['cache']['hits']} hits, {rep['cache']['misses']} computed")
    lines += [f"{k}: {p}" for k, p in rep["files"].items()]
    return lines
