r"""Measures size, latency, cosine to Keras and LFW accuracy of every export variant.

nice -n 10 python -m export.parity --model=dlib_resnet_v1
    [--data_dir=../shared/data] [--output_dir=docs/export] [--nolfw]
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras file.")
_DATA_DIR = flags.DEFINE_string("data_dir", "../shared/data", "Shared data (celeba/, lfw/).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "docs/export", "Where the report goes.")
_WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/facenet_tf_export", "Converted models, sidecars and cached LFW crops."
)
_NUM_FACES = flags.DEFINE_integer("num_faces", 1000, "CelebA faces for the cosine columns.")
_NUM_CALIBRATION = flags.DEFINE_integer("num_calibration", 200, "CelebA faces for int8.")
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 50, "Timed invocations per figure.")
_THREADS = flags.DEFINE_list("threads", ["1", "4"], "Thread counts for latency.")
_LFW = flags.DEFINE_bool("lfw", True, "Measure LFW accuracy (slow).")
_CROP = flags.DEFINE_enum("crop", "auto", ["auto", "align", "box"], "How faces are cropped.")
_EVAL_THREADS = flags.DEFINE_integer("eval_threads", 2, "LiteRT threads for evaluation.")
_REPORT_SUFFIX = flags.DEFINE_string("report_suffix", "", "Appended to the report file names.")


def argv_flags() -> list[str]:
    """The flags given on the command line, as typed (for the report)."""
    return [a for a in sys.argv[1:] if a.startswith("--")]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from export import parity_lib, parity_report

    config = parity_lib.ParityConfig(
        model=_MODEL.value or "",
        data_dir=_DATA_DIR.value,
        output_dir=_OUTPUT_DIR.value,
        work_dir=_WORK_DIR.value,
        num_faces=_NUM_FACES.value,
        num_calibration=_NUM_CALIBRATION.value,
        latency_runs=_LATENCY_RUNS.value,
        threads=tuple(int(t) for t in _THREADS.value),
        lfw=_LFW.value,
        crop=_CROP.value,
        eval_threads=_EVAL_THREADS.value,
        report_suffix=_REPORT_SUFFIX.value,
        command="python -m export.parity " + " ".join(argv_flags()),
    )
    report = parity_lib.run(config)
    for target in report["targets"]:
        logging.info(
            "%s: %s (%s)", "met" if target["met"] else "MISSED", target["target"], target["value"]
        )
    print(parity_report.markdown(report))


if __name__ == "__main__":
    app.run(main)
