"""Library behind ``python -m facenet_tf.eval.evaluate`` (no flags here).

``run(config)`` embeds the LFW images named in a pairs file (through an embedding cache),
runs the 10-fold verification protocol, optionally view 1 (DevTrain threshold applied to
DevTest), identification on the whole LFW tree and clustering of identities with several
images, and writes ``report.json``, ``roc.png`` and ``clusters.png``.

The protocol code never sees the model: it receives ``embed_fn(items) -> float [n, D]``
(items are file paths or image arrays). Rows of NaN from ``embed_fn`` mean "no face found";
the configured policy then either embeds a centre crop / the whole image with
``aligned_fn`` or fails, and the report counts and lists those images.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError, NoFaceError
from facenet_tf.eval import clustering, identification, pairs, report, verification
from facenet_tf.eval.cache import EmbeddingCache

EmbedFn = Callable[[Sequence[Any]], np.ndarray]
NO_FACE_POLICIES = ("center_crop", "whole_image", "fail")
PROJECTIONS = ("pca", "tsne")
PAPER_THRESHOLD = 1.242  # squared L2; clustering's default cut when no view-1 pairs are given


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Validated settings of one evaluation run.

    Attributes:
        model: registered model name or ``.keras`` path.
        lfw_dir: LFW image tree (``{Name}/{Name}_{NNNN}.jpg``).
        pairs: view-2 ``pairs.txt``.
        output_dir: where ``report.json``, ``roc.png`` and ``clusters.png`` go.
        distance: "squared_l2", "cosine" or "euclidean".
        far_target: FAR for VAL.
        flip: average each image's embedding with its mirror image's.
        aligned: the images are already aligned crops (skip detection).
        on_no_face: "center_crop", "whole_image" or "fail".
        center_crop_fraction: side of the centre crop as a fraction of the shorter side.
        batch_size: images per embedding call.
        cache_dir: embedding cache folder ("" = ``output_dir/embedding_cache``).
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
    output_dir: str
    distance: str = "squared_l2"
    far_target: float = 1e-3
    flip: bool = False
    aligned: bool = False
    on_no_face: str = "center_crop"
    center_crop_fraction: float = 0.6
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
        if not self.model:
            raise InvalidInputError("model: required (a registered name or a .keras path)")
        if not Path(self.lfw_dir).is_dir():
            raise InvalidInputError(f"lfw_dir: {self.lfw_dir!r} is not a folder")
        if not Path(self.pairs).is_file():
            raise InvalidInputError(f"pairs: {self.pairs!r} is not a file")
        if not self.output_dir:
            raise InvalidInputError("output_dir: required")
        if self.distance not in verification.DISTANCES:
            raise InvalidInputError(
                f"distance: one of {verification.DISTANCES}, got {self.distance!r}"
            )
        if not 0.0 < self.far_target < 1.0:
            raise InvalidInputError(f"far_target: must lie in (0, 1), got {self.far_target}")
        if self.on_no_face not in NO_FACE_POLICIES:
            raise InvalidInputError(
                f"on_no_face: one of {NO_FACE_POLICIES}, got {self.on_no_face!r}"
            )
        if not 0.1 <= self.center_crop_fraction <= 1.0:
            raise InvalidInputError(
                f"center_crop_fraction: must lie in [0.1, 1], got {self.center_crop_fraction}"
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


def center_crop(image: np.ndarray, fraction: float) -> np.ndarray:
    """The central square of side ``fraction`` x the shorter side: [H, W, 3] -> [s, s, 3]."""
    h, w = image.shape[:2]
    s = max(1, int(round(fraction * min(h, w))))
    top, left = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(image[top : top + s, left : left + s])


def with_no_face_policy(
    embed_fn: EmbedFn, aligned_fn: EmbedFn, policy: str, crop_fraction: float = 0.6
) -> Callable[[Sequence[Any]], tuple[np.ndarray, np.ndarray]]:
    """Wraps ``embed_fn`` (NaN rows = no face) into ``items -> (embeddings, no_face)``.

    Args:
        embed_fn: detects, aligns and embeds; a NaN row means no face was found.
        aligned_fn: embeds arrays as given (resized to the model input, no detection).
        policy: "center_crop" (embed the central square), "whole_image" or "fail"
            (raise NoFaceError naming the images).
        crop_fraction: centre-crop side relative to the shorter image side.

    Returns:
        A compute function for ``EmbeddingCache.embed``.
    """
    from facenet_tf.io.images import read_image, to_rgb_uint8

    def compute(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        emb = np.array(embed_fn(list(items)), dtype=np.float32)
        no_face = ~np.isfinite(emb).all(axis=1)
        if no_face.any():
            idx = np.flatnonzero(no_face)
            names = [
                str(items[i]) if not isinstance(items[i], np.ndarray) else f"array[{i}]"
                for i in idx
            ]
            if policy == "fail":
                raise NoFaceError(f"no face found in {len(idx)} image(s): {', '.join(names[:10])}")
            images = [
                read_image(items[i]) if not isinstance(items[i], np.ndarray)
                else to_rgb_uint8(items[i], names[k])
                for k, i in enumerate(idx)
            ]  # fmt: skip
            if policy == "center_crop":
                images = [center_crop(im, crop_fraction) for im in images]
            emb[idx] = np.asarray(aligned_fn(images), dtype=np.float32)
            still = [names[k] for k, i in enumerate(idx) if not np.isfinite(emb[i]).all()]
            if still:
                raise NoFaceError(
                    f"the {policy} fallback gave no embedding for {len(still)} image(s): "
                    f"{', '.join(still[:10])}"
                )
        return emb, no_face

    return compute


def model_embed_fns(config: EvalConfig) -> tuple[EmbedFn, EmbedFn, str]:
    """(embed_fn, aligned_fn, model key) for ``config.model`` through ``facenet_tf.embed``."""
    from facenet_tf.eval.cache import model_identity
    from facenet_tf.inference import embed, get_embedder

    embedder = get_embedder(config.model)

    def embed_fn(items: Sequence[Any]) -> np.ndarray:
        return embed(
            list(items), model=embedder, batch_size=config.batch_size,
            aligned=config.aligned, on_no_face="nan",
        )  # fmt: skip

    def aligned_fn(items: Sequence[Any]) -> np.ndarray:
        return embed(list(items), model=embedder, batch_size=config.batch_size, aligned=True)

    return embed_fn, aligned_fn, model_identity(embedder.model)


def _pipeline_key(model_key: str, config: EvalConfig) -> str:
    return (
        f"{model_key}|aligned={config.aligned}|no_face={config.on_no_face}"
        f"|crop={config.center_crop_fraction}|flip={config.flip}"
    )


def _pair_distances(
    pair_list: pairs.PairList, index: dict[tuple[str, int], int], emb: np.ndarray, distance: str
) -> np.ndarray:
    left = [index[(p.name1, p.index1)] for p in pair_list.pairs]
    right = [index[(p.name2, p.index2)] for p in pair_list.pairs]
    return verification.pair_distances(emb[left], emb[right], distance)


def _embed_keys(
    keys: list[tuple[str, int]], config: EvalConfig, cache: EmbeddingCache, compute
) -> tuple[np.ndarray, np.ndarray]:
    paths = [pairs.lfw_image_path(config.lfw_dir, n, i) for n, i in keys]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InvalidInputError(
            f"lfw_dir: {len(missing)} image(s) named by the pairs are missing, e.g. {missing[:3]}"
        )
    return cache.embed(paths, compute, config.batch_size, progress=config.progress)


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
    config: EvalConfig,
    embed_fn: EmbedFn | None = None,
    aligned_fn: EmbedFn | None = None,
    model_key: str | None = None,
) -> dict[str, Any]:
    """Runs the evaluation and writes its report files.

    Args:
        config: validated settings.
        embed_fn: items -> float [n, D] (NaN rows: no face). None builds it from
            ``config.model`` with ``facenet_tf.embed``.
        aligned_fn: items -> float [n, D] without detection (for the no-face fallback);
            defaults to ``embed_fn``.
        model_key: cache identity of an injected ``embed_fn`` (default
            ``"injected:" + config.model``).

    Returns:
        The report dict (also written to ``output_dir/report.json``).
    """
    config.validate()
    start = time.time()
    if embed_fn is None:
        embed_fn, aligned_fn, model_key = model_embed_fns(config)
    aligned_fn = aligned_fn or embed_fn
    model_key = model_key or f"injected:{config.model}"
    if config.flip:
        embed_fn, aligned_fn = verification.with_flip(embed_fn), verification.with_flip(aligned_fn)
    out_dir = Path(config.output_dir)
    cache = EmbeddingCache(
        config.cache_dir or out_dir / "embedding_cache", _pipeline_key(model_key, config)
    )
    compute = with_no_face_policy(
        embed_fn, aligned_fn, config.on_no_face, config.center_crop_fraction
    )

    view2 = pairs.read_lfw_pairs(config.pairs)
    keys = view2.image_keys()
    emb, no_face = _embed_keys(keys, config, cache, compute)
    index = {k: i for i, k in enumerate(keys)}
    d = _pair_distances(view2, index, emb, config.distance)
    result = verification.kfold_verification(d, view2.issame, view2.folds, config.far_target)
    rep: dict[str, Any] = {
        "model": config.model,
        "model_key": model_key,
        "config": dataclasses.asdict(config),
        "pairs": {
            "file": config.pairs,
            "num_pairs": len(view2),
            "num_folds": view2.num_folds,
            "num_images": len(keys),
        },  # fmt: skip
        "no_face": {
            "policy": config.on_no_face,
            "count": int(no_face.sum()),
            "images": [str(pairs.lfw_image_path("", *keys[i])) for i in np.flatnonzero(no_face)],
        },
        "verification": result.to_dict(),
    }
    cluster_threshold = PAPER_THRESHOLD
    if config.dev_train_pairs:
        dev = {}
        for name, path in (("train", config.dev_train_pairs), ("test", config.dev_test_pairs)):
            plist = pairs.read_lfw_pairs(path)
            k = plist.image_keys()
            e, _ = _embed_keys(k, config, cache, compute)
            dev[name] = (
                _pair_distances(plist, {x: i for i, x in enumerate(k)}, e, config.distance),
                plist.issame,
            )
        rep["view1"] = verification.train_test_verification(*dev["train"], *dev["test"])
        if config.distance == "squared_l2":
            cluster_threshold = rep["view1"]["threshold"]
    if config.identification:
        all_keys, labels = _lfw_tree(config.lfw_dir)
        all_emb, all_nf = _embed_keys(all_keys, config, cache, compute)
        rep["identification"] = identification.evaluate_identification(
            all_emb, labels, distance=config.distance
        ).to_dict()
        rep["identification"]["no_face_count"] = int(all_nf.sum())
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
