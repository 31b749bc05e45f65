"""Evaluation reports: JSON, ROC curve PNG and a 2-D embedding/cluster plot PNG.

Plots use matplotlib's Agg canvas directly (no pyplot, no global backend switch), so they
work headless and do not disturb an interactive session.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.verification import RocCurve

PathLike = str | os.PathLike


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    return x


def write_json(path: PathLike, report: Mapping[str, Any]) -> Path:
    """Writes ``report`` as indented JSON (numpy values converted, NaN -> null); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(report), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, p)
    return p


def _new_figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_roc(path: PathLike, curves: Mapping[str, RocCurve], title: str = "LFW ROC") -> Path:
    """Saves ROC curves (TPR = VAL against FAR, log-scaled FAR axis) as a PNG.

    Args:
        path: output .png.
        curves: legend label -> ROC curve.
        title: figure title.
    """
    if not curves:
        raise InvalidInputError("plot_roc: no curves given")
    fig = _new_figure((6.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for label, c in curves.items():
        keep = c.fpr > 0  # a log axis cannot show FAR = 0
        ax.plot(c.fpr[keep], c.tpr[keep], label=label, linewidth=1.5)
    ax.axvline(1e-3, color="grey", linestyle=":", linewidth=1, label="FAR = 1e-3")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (VAL)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    return p


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D projection of float [N, D] embeddings by PCA or t-SNE; returns float64 [N, 2]."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidInputError(f"embeddings: need [N >= 2, D], got {x.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3.0)))
        tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
        # Barnes-Hut t-SNE's OpenMP threads slow it down 10x or more on a busy machine
        # (200 points: 73 s vs 5 s on one thread); a plot's few hundred points need one.
        with threadpool_limits(1):
            return tsne.fit_transform(x)
    raise InvalidInputError(f"projection must be 'pca' or 'tsne', got {method!r}")


def plot_clusters(
    path: PathLike,
    embeddings: np.ndarray,
    labels: Sequence[Any],
    clusters: Sequence[int] | None = None,
    method: str = "pca",
    title: str = "Embeddings",
    seed: int = 0,
) -> Path:
    """Saves a 2-D scatter of embeddings coloured by identity as a PNG.

    Args:
        path: output .png.
        embeddings: float [N, D].
        labels: N identity labels (colour, legend).
        clusters: optional N cluster ids found by a clustering method; drawn as a second
            panel so the two partitions can be compared.
        method: "pca" or "tsne".
        title: figure title.
        seed: projection seed.
    """
    xy = project_2d(embeddings, method, seed)
    labels = list(labels)
    if len(labels) != len(xy):
        raise InvalidInputError(f"labels: {len(labels)} for {len(xy)} embeddings")
    ids = list(dict.fromkeys(labels))
    if clusters is not None:
        clusters = [int(c) for c in clusters]
        if len(clusters) != len(labels):
            raise InvalidInputError(f"clusters: {len(clusters)} for {len(labels)} embeddings")
    palette = _colours(len(ids) + (len(set(clusters)) if clusters is not None else 0))
    colour = {u: palette[j] for j, u in enumerate(ids)}
    panels = [("identities", labels, colour)]
    if clusters is not None:
        panels.append(
            (
                "clusters found",
                list(clusters),
                _cluster_colours(labels, clusters, colour, palette[len(ids) :]),
            )
        )
    fig = _new_figure((5.5 * len(panels), 5.0))
    for k, (name, lab, colours) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for u in dict.fromkeys(lab):
            m = np.asarray([v == u for v in lab])
            ax.scatter(xy[m, 0], xy[m, 1], s=18, color=colours[u], label=str(u), alpha=0.85)
        ax.set_title(f"{title}: {name} ({method.upper()})")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(colours) <= 12:
            ax.legend(fontsize=7, loc="best", markerscale=0.8)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    return p


def _cluster_colours(labels: list, clusters: Sequence[int], id_colour: dict, spare: list) -> dict:
    """A cluster takes its majority identity's colour (largest cluster first), so the two
    panels match where the clustering is right; others get spare colours, noise grey."""
    members: dict[int, list] = {}
    for lab, c in zip(labels, clusters, strict=True):
        members.setdefault(c, []).append(lab)
    out, taken = {}, set()
    spare = list(spare)
    for c in sorted(members, key=lambda c: -len(members[c])):
        if c == -1:
            out[c] = "lightgrey"
            continue
        major = max(set(members[c]), key=members[c].count)
        if major in taken:
            out[c] = spare.pop(0) if spare else "black"
        else:
            out[c] = id_colour[major]
            taken.add(major)
    return out


def _colours(n: int) -> list:
    """tab10's ten colours, then tab20's lighter shades, then repeats."""
    from matplotlib import colormaps

    base = [colormaps["tab10"](i) for i in range(10)]
    base += [colormaps["tab20"](i) for i in range(1, 20, 2)]
    return [base[i % len(base)] for i in range(n)]
