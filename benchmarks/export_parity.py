r"""Measures size, latency, cosine to Keras and LFW accuracy of every export variant.

Usage (from the repository root):
    nice -n 10 python benchmarks/export_parity.py --model=dlib_resnet_v1
        [--shared_data_dir=../shared/data] [--output_dir=docs/export] [--nolfw]

Every face (CelebA calibration and evaluation, LFW) becomes a model input through the
export face pipeline, ``FacePipeline(model, flip=False)``; the report states its settings.
The measurements are ``benchmarks/export_parity_lib.py``; the report
(``docs/export/parity_<model>.{md,json}``) is rendered by ``export_parity_report.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facenet_tf.export import calibration  # noqa: E402  (numpy only; --help stays light)

_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras file.")
_SHARED_DATA_DIR = flags.DEFINE_string(
    "shared_data_dir", "../shared/data", "Shared data (celeba/, lfw/)."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "docs/export", "Where the report goes.")
_WORKDIR = flags.DEFINE_string(
    "workdir", "/tmp/facenet_tf_export", "Converted models, sidecars and cached LFW crops."
)
_NUM_FACES = flags.DEFINE_integer("num_faces", 1000, "CelebA faces for the cosine columns.")
_NUM_CALIBRATION = flags.DEFINE_integer("num_calibration", 200, "CelebA faces for int8.")
_CALIBRATION_PERCENTILE = flags.DEFINE_float(
    "calibration_percentile",
    calibration.DEFAULT_PERCENTILE,
    "int8: outlier faces above this percentile are left out.",
)
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 50, "Timed invocations per figure.")
_THREADS = flags.DEFINE_list("threads", ["1", "4"], "Thread counts for latency.")
_LFW = flags.DEFINE_bool("lfw", True, "Measure LFW accuracy (slow).")
_EVAL_THREADS = flags.DEFINE_integer("eval_threads", 2, "LiteRT threads for evaluation.")
_REPORT_SUFFIX = flags.DEFINE_string("report_suffix", "", "Appended to the report file names.")


def argv_flags() -> list[str]:
    """The flags given on the command line, as typed (for the report)."""
    return [a for a in sys.argv[1:] if a.startswith("--")]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from benchmarks import export_parity_lib, export_parity_report

    config = export_parity_lib.ParityConfig(
        model=_MODEL.value or "",
        shared_data_dir=_SHARED_DATA_DIR.value,
        output_dir=_OUTPUT_DIR.value,
        workdir=_WORKDIR.value,
        num_faces=_NUM_FACES.value,
        num_calibration=_NUM_CALIBRATION.value,
        calibration_percentile=_CALIBRATION_PERCENTILE.value,
        latency_runs=_LATENCY_RUNS.value,
        threads=tuple(int(t) for t in _THREADS.value),
        lfw=_LFW.value,
        eval_threads=_EVAL_THREADS.value,
        report_suffix=_REPORT_SUFFIX.value,
        command="python benchmarks/export_parity.py " + " ".join(argv_flags()),
    )
    report = export_parity_lib.run(config)
    for target in report["targets"]:
        logging.info(
            "%s: %s (%s)", "met" if target["met"] else "MISSED", target["target"], target["value"]
        )
    print(export_parity_report.markdown(report))


if __name__ == "__main__":
    app.run(main)
