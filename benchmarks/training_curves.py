"""Training curves of harmonic runs: ``metrics.jsonl`` records, runs trained in stages,
and the loss / DevTest figure (``benchmarks/harmonic_eval.py --plot``). No flags here, so
tests can import it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_metrics(workdir: str) -> list[dict]:
    """The records of a training run's ``metrics.jsonl`` (a resumed run's repeats: last wins)."""
    by_key: dict[tuple, dict] = {}
    with open(Path(workdir) / "metrics.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            by_key[(record["step"], "val/accuracy" in record)] = record
    return [by_key[k] for k in sorted(by_key)]


def read_stages(workdirs: str) -> list[dict]:
    """The records of a run trained in stages, ``workdir1+workdir2+...``: each stage's
    steps follow the previous stage's last step (its step-0 validation repeats that
    step's and is dropped)."""
    merged: list[dict] = []
    for workdir in workdirs.split("+"):
        offset = merged[-1]["step"] if merged else 0
        records = read_metrics(workdir)
        if merged:
            records = [r for r in records if r["step"] > 0]
        merged += [{**r, "step": r["step"] + offset} for r in records]
    return merged


def plot_runs(runs: dict[str, list[dict]], weights: dict[str, float], path: str) -> None:
    """Left: within-model triplet loss and matched cross-model distance (mean of 5 records,
    50 steps);
    right: LFW view-1 DevTest accuracy of each run against the step. ``weights``: each
    run's harmonic weight (its loss is triplet + weight * harmonic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, records) in enumerate(runs.items()):
        train = [r for r in records if "loss" in r]
        steps = np.array([r["step"] for r in train])
        kernel = np.ones(5) / 5
        weight = weights.get(label, 0.0)
        triplet = np.array([r["loss"] - weight * r.get("harmonic_loss", 0.0) for r in train])
        left.plot(
            steps[4:],
            np.convolve(triplet, kernel, "valid"),
            color=f"C{i}",
            label=f"{label}: within-model triplet loss",
        )
        if "harmonic_matched_distance" in train[0]:
            matched = np.array([r["harmonic_matched_distance"] for r in train])
            left.plot(steps[4:], np.convolve(matched, kernel, "valid"), color=f"C{i}", ls="--",
                      label=f"{label}: matched cross-model distance")  # fmt: skip
        val = [r for r in records if "val/accuracy" in r]
        right.plot([r["step"] for r in val], [100 * r["val/accuracy"] for r in val], "o-",
                   color=f"C{i}", label=label)  # fmt: skip
    left.set_xlabel("step")
    left.set_yscale("log")
    left.legend(fontsize=8)
    left.set_title("training (mean of 50 steps)")
    right.set_xlabel("step")
    right.set_ylabel("LFW view-1 DevTest accuracy (%), new model alone")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"curve -> {path}")
