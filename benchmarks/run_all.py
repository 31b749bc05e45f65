"""Every speed benchmark in one run, and one Markdown table of the results.

    python benchmarks/run_all.py --quick   # small inputs, a few minutes on 2 cores
    python benchmarks/run_all.py           # each script at its default size

Each benchmark runs as a subprocess (``sys.executable benchmarks/<script>.py ...``) that
writes its machine-readable result under ``benchmarks/results/run_all/<quick|full>/``;
this script reads those files (never the printed output), records the machine and the
load average before and after each benchmark, and writes ``benchmarks/RESULTS.md`` (or
``--output``): one row per figure with ours, the peer, the ratio, the machine, the load
average and the command.

Ratio is the speed-up of ours over the peer: ours / peer for rates (higher is better),
peer / ours for times (lower is better); above 1 means ours is faster. A benchmark whose
peer package is not installed is not run and its rows say "peer unavailable"; one that
fails gives a row "failed: <last line of stderr>" and the others go on. The exit status
is non-zero only when every benchmark failed.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results" / "run_all"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "RESULTS.md"
HEADER = ("figure", "ours", "peer", "ratio", "machine", "load average", "command")


@dataclasses.dataclass(frozen=True)
class Figure:
    """One table row's numbers. ``peer`` None: the benchmark has no peer for it."""

    figure: str
    ours: float
    peer: float | None
    higher_is_better: bool
    peer_name: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What running one benchmark gave: its result (``data``) or why there is none.

    status: "ok", "peer unavailable: ..." or "failed: ...".
    load: (1-minute load average at the start, at the end).
    """

    name: str
    command: str
    machine: str
    load: tuple[float, float]
    status: str = "ok"
    data: object = None


# --- Figures from each benchmark's result file (pure functions of the parsed file) ---------


def figures_embed_vs_dlib(rows: list[dict]) -> list[Figure]:
    """CSV rows of ``embed_vs_dlib.py``: faces/s of ours and dlib at each batch size."""
    by_batch: dict[int, dict[str, float]] = {}
    diff = next((r["max_abs_diff"] for r in rows if r.get("max_abs_diff")), None)
    note = f"; max abs descriptor diff {diff}" if diff is not None else ""
    for row in rows:
        name = "dlib" if row["implementation"].startswith("dlib") else "ours"
        by_batch.setdefault(int(row["batch_size"]), {})[name] = float(row["faces_per_s"])
    return [
        Figure(
            f"dlib ResNet embedding, batch {batch} (faces/s{note})",
            rates["ours"],
            rates.get("dlib"),
            True,
            "dlib compute_face_descriptor",
        )
        for batch, rates in sorted(by_batch.items())
    ]


def figures_detect_photos(data: dict) -> list[Figure]:
    """``detect_photos.json``: ms/photo on 1280x720 photos, one photo per call."""
    ms = data["photos_1280x720"]["ms_per_photo_median_of_rounds"]
    return [
        Figure(
            "MTCNN detection, 1280x720 photo, one per call (ms/photo)",
            ms["ours_single"],
            ms["package_single"],
            False,
            "mtcnn package",
        ),
        Figure(
            "MTCNN detection, 1280x720 photo, one per call (ms/photo)",
            ms["ours_single"],
            ms["reference_single"],
            False,
            "previous detector",
        ),
        Figure(
            "MTCNN detection, 1280x720 photos, batched (ms/photo)",
            ms["ours_batched"],
            ms["reference_batched"],
            False,
            "previous detector",
        ),
    ]


def figures_detect_align(data: dict) -> list[Figure]:
    """``detect_align.json``: aligned LFW crops/s, ours and the ``mtcnn`` package's."""
    side = data["side_by_side"]
    return [
        Figure(
            f"detect + align LFW, {side['images']} images (crops/s)",
            side["ours_faces_per_s"],
            side["package_faces_per_s"],
            True,
            "mtcnn package",
        )
    ]


def figures_triplet_loss(data: dict) -> list[Figure]:
    """``triplet_loss.json``: forward + backward ms of each loss beside the previous one."""
    return [
        Figure(
            f"triplet loss {row['loss']}, B={row['batch']}, fwd+bwd (ms)",
            row["ours_ms"],
            row["previous_ms"],
            False,
            "previous implementation",
        )
        for row in data["rows"]
    ]


def figures_train_step(data: dict) -> list[Figure]:
    """``train_step.json``: seconds a training step, fused layers beside Keras's own."""
    p, k = data["batch"]
    return [
        Figure(
            f"training step {data['model']}, P x K = {p} x {k} (s)",
            data["fused_median_s"],
            data["keras_median_s"],
            False,
            "Keras BatchNormalization and PReLU",
        )
    ]


def figures_lfw_cost(data: dict) -> list[Figure]:
    """``lfw_default_model.json`` (``--cost``): photos/s of ``facenet_tf.embed``."""
    cost = data["flip_cost"]
    rate = cost["photos_per_second"]
    return [
        Figure(
            f"facenet_tf.embed, {cost['photos']} LFW photos (photos/s)",
            rate["flip=False"],
            None,
            True,
        ),
        Figure(
            f"facenet_tf.embed with flip, {cost['photos']} LFW photos (photos/s)",
            rate["flip=True"],
            None,
            True,
        ),
    ]


def figures_embed_photos(data: dict) -> list[Figure]:
    """``embed_photos.json``: photos/s of ``facenet_tf.embed(paths)`` with its defaults,
    beside the same call with the background prefetch off."""
    rate = data["photos_per_second"]
    return [
        Figure(
            f"facenet_tf.embed(paths), defaults (flip), {data['photos']} LFW view-2 photos "
            f"(photos/s; max abs vector diff {data['max_abs_vector_difference']:.3g})",
            rate["ours"],
            rate["serial"],
            True,
            "same call, no prefetch",
        )
    ]


def figures_embed_help(data: dict) -> list[Figure]:
    """run_all's own record of ``facenet-tf embed --help``: best wall seconds of the runs."""
    return [
        Figure(
            f"`facenet-tf embed --help` wall time, best of {len(data['seconds'])} (s)",
            min(data["seconds"]),
            None,
            False,
        )
    ]


FIGURES: dict[str, Callable[[object], list[Figure]]] = {
    "embed_vs_dlib": figures_embed_vs_dlib,
    "detect_photos": figures_detect_photos,
    "detect_align": figures_detect_align,
    "triplet_loss": figures_triplet_loss,
    "train_step": figures_train_step,
    "lfw_default_model": figures_lfw_cost,
    "embed_photos": figures_embed_photos,
    "embed_help": figures_embed_help,
}

# Figure titles (and peers) of a benchmark that did not give a result.
TITLES = {
    "embed_vs_dlib": ("dlib ResNet embedding (faces/s)", "dlib compute_face_descriptor"),
    "detect_photos": ("MTCNN detection, 1280x720 photos (ms/photo)", "mtcnn package"),
    "detect_align": ("detect + align LFW (crops/s)", "mtcnn package"),
    "triplet_loss": ("triplet losses, fwd+bwd (ms)", "previous implementation"),
    "train_step": ("training step, mobilefacenet (s)", "Keras BatchNormalization and PReLU"),
    "lfw_default_model": ("facenet_tf.embed, LFW photos (photos/s)", None),
    "embed_photos": ("facenet_tf.embed(paths), LFW view-2 photos (photos/s)", "no prefetch"),
    "embed_help": ("`facenet-tf embed --help` wall time (s)", None),
}


# --- The table (pure) -----------------------------------------------------------------------


def _number(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def ratio(fig: Figure) -> float | None:
    """Speed-up of ours over the peer (> 1: ours faster); None without a peer."""
    if fig.peer is None or fig.ours <= 0 or fig.peer <= 0:
        return None
    return fig.ours / fig.peer if fig.higher_is_better else fig.peer / fig.ours


def table_rows(outcome: Outcome) -> list[tuple[str, ...]]:
    """The table cells of one benchmark's outcome, one tuple per row (HEADER order)."""
    load = f"{outcome.load[0]:.2f} / {outcome.load[1]:.2f}"
    command = f"`{outcome.command}`"
    if outcome.status != "ok":
        title, peer_name = TITLES.get(outcome.name, (outcome.name, None))
        if outcome.status.startswith("peer unavailable"):
            ours, peer = "-", outcome.status
        else:
            ours, peer = outcome.status, "-"
        return [(title, ours, peer, "-", outcome.machine, load, command)]
    rows = []
    for fig in FIGURES[outcome.name](outcome.data):
        r = ratio(fig)
        peer = "-" if fig.peer is None else f"{_number(fig.peer)} ({fig.peer_name})"
        rows.append(
            (
                fig.figure,
                _number(fig.ours),
                peer,
                "-" if r is None else f"{r:.2f}x",
                outcome.machine,
                load,
                command,
            )
        )
    return rows


def build_table(outcomes: list[Outcome]) -> str:
    """One Markdown table (header, separator, a row per figure) of all the outcomes."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---:|---:|---:|---|---|---|"]
    for outcome in outcomes:
        for row in table_rows(outcome):
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


# --- Running ---------------------------------------------------------------------------------


def machine() -> str:
    """CPU model (from /proc/cpuinfo) and the cores this process may use."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [x.split(":", 1)[1].strip() for x in f if x.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


@dataclasses.dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    result: str  # file name under the results folder
    quick: tuple[str, ...]  # size flags for --quick
    always: tuple[str, ...] = ()  # flags of both sizes
    output_flag: str = "--output"
    peer_module: str | None = None
    extra_outputs: tuple[tuple[str, str], ...] = ()  # (flag, file name) kept out of docs/


BENCHMARKS = (
    Benchmark(
        "embed_vs_dlib",
        "embed_vs_dlib.py",
        "embed_vs_dlib.csv",
        quick=("--batch_sizes=1,16", "--batch1_faces=4", "--repeats=2"),
        peer_module="dlib",
    ),
    Benchmark(
        "detect_photos",
        "detect_photos.py",
        "detect_photos.json",
        quick=("--photos=2", "--rounds=1", "--lfw_images=16", "--agree_images=16"),
        peer_module="mtcnn",
    ),
    Benchmark(
        "detect_align",
        "detect_align.py",
        "detect_align.json",
        quick=("--package_images=16", "--max_images=32", "--chunk=8"),
        peer_module="mtcnn",
        extra_outputs=(("--sheet", "align_contact_sheet.png"),),
    ),
    Benchmark(
        "triplet_loss",
        "triplet_loss.py",
        "triplet_loss.csv",  # the JSON is written beside it
        quick=("--batch_sizes=1800", "--repeats=3"),
        output_flag="--csv",
    ),
    Benchmark("train_step", "train_step.py", "train_step.json", quick=("--repeats=3",)),
    Benchmark(
        "lfw_default_model",
        "lfw_default_model.py",
        "lfw_default_model.json",
        quick=("--cost_images=100",),
        always=("--cost",),
    ),
    Benchmark(
        "embed_photos",
        "embed_photos.py",
        "embed_photos.json",
        quick=("--photos=384", "--rounds=2"),
    ),
)


def _last_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else "no output"


def _load() -> float:
    return os.getloadavg()[0]


def _shown(argv: list[str]) -> str:
    """The command as a reader would type it from the repository root."""
    parts = ["python" if a == sys.executable else a for a in argv]
    return " ".join(p.replace(str(ROOT) + os.sep, "") for p in parts)


def run_script(bench: Benchmark, quick: bool, out_dir: Path, cpu: str) -> Outcome:
    result = out_dir / bench.result
    argv = [sys.executable, str(ROOT / "benchmarks" / bench.script), *bench.always]
    argv += list(bench.quick) if quick else []
    argv.append(f"{bench.output_flag}={result}")
    argv += [f"{flag}={out_dir / name}" for flag, name in bench.extra_outputs]
    command = _shown(argv)
    if bench.peer_module and importlib.util.find_spec(bench.peer_module) is None:
        status = f"peer unavailable (no module {bench.peer_module})"
        return Outcome(bench.name, command, cpu, (_load(), _load()), status)
    json_file = result.with_suffix(".json")
    for stale in {result, json_file}:
        stale.unlink(missing_ok=True)
    print(f"[run_all] {command}", flush=True)
    start = _load()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    load = (start, _load())
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        return Outcome(bench.name, command, cpu, load, f"failed: {_last_line(proc.stderr)}")
    try:
        if json_file.exists():
            data = json.loads(json_file.read_text())
        else:
            with result.open(newline="") as f:
                data = list(csv.DictReader(f))
        FIGURES[bench.name](data)  # a result without the expected fields fails here
    except (OSError, ValueError, KeyError, TypeError) as e:
        return Outcome(bench.name, command, cpu, load, f"failed: result unreadable ({e!r})")
    return Outcome(bench.name, command, cpu, load, data=data)


def run_embed_help(out_dir: Path, cpu: str, times: int = 3) -> Outcome:
    exe = shutil.which("facenet-tf") or str(Path(sys.executable).parent / "facenet-tf")
    argv = [exe, "embed", "--help"]
    command = "facenet-tf embed --help"
    print(f"[run_all] {command} x{times}", flush=True)
    start = _load()
    seconds = []
    for _ in range(times):
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        except OSError as e:
            return Outcome("embed_help", command, cpu, (start, _load()), f"failed: {e}")
        seconds.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return Outcome(
                "embed_help", command, cpu, (start, _load()), f"failed: {_last_line(proc.stderr)}"
            )
    data = {"command": command, "seconds": seconds}
    (out_dir / "embed_help.json").write_text(json.dumps(data, indent=1) + "\n")
    return Outcome("embed_help", command, cpu, (start, _load()), data=data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Small inputs (a few minutes).")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown table.")
    parser.add_argument(
        "--only", default="", help="Comma-separated benchmark names to run (default: all)."
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    out_dir = RESULTS_DIR / mode
    out_dir.mkdir(parents=True, exist_ok=True)
    only = {x for x in args.only.split(",") if x}
    cpu = machine()
    began = time.perf_counter()
    outcomes = []
    for bench in BENCHMARKS:
        if not only or bench.name in only:
            outcomes.append(run_script(bench, args.quick, out_dir, cpu))
    if not only or "embed_help" in only:
        outcomes.append(run_embed_help(out_dir, cpu))
    wall = time.perf_counter() - began
    text = (
        f"# Benchmark results ({mode})\n\n"
        f"Written by `python benchmarks/run_all.py{' --quick' if args.quick else ''}` "
        f"in {wall / 60:.1f} minutes on {cpu}; the result files are in "
        f"`{out_dir.relative_to(ROOT)}/`.\n\n"
        "Ratio: speed-up of ours over the peer (ours / peer for rates, peer / ours for "
        "times; above 1: ours faster). Load average: 1-minute load at the start / end of "
        "that benchmark.\n\n" + build_table(outcomes)
    )
    args.output.write_text(text)
    print(text)
    print(f"[run_all] wrote {args.output} in {wall:.0f} s")
    return 1 if all(o.status.startswith("failed") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
