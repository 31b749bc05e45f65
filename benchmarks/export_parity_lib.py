"""The parity table: what each export variant costs and keeps, measured.

For every TFLite variant (float32, float16, dynamic, int8) of one model: file size,
LiteRT latency (XNNPACK, batch 1, 1 and 4 threads), cosine to the Keras model over real
non-LFW faces (CelebA), LFW view-2 10-fold accuracy (``PairEvaluator``), and the view-1
DevTrain threshold written into its sidecar (``facenet_tf.export.threshold``). Every face,
CelebA and LFW alike, becomes a model input through the export face pipeline
(``facenet_tf.export.faces``: ``FacePipeline(model, flip=False)`` rounded to uint8). The Keras model itself and the SavedModel's ``embed`` /
``embed_quantized`` signatures are measured alongside. Results go to
``docs/export/parity_<model>.{md,json}``; the converted files to ``workdir``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.export_parity_report import row_of, targets, write_report
from facenet_tf.errors import InvalidInputError
from facenet_tf.export import (
    calibration,
    codes,
    faces,
    litert,
    model_io,
    saved_model,
    tflite,
    threshold,
)
from facenet_tf.export.model_io import ExportModel
from facenet_tf.face_pipeline import describe as describe_pipeline
from facenet_tf.io.files import list_images

PathLike = str | os.PathLike
LFW_DIR = "lfw"


@dataclasses.dataclass(frozen=True)
class ParityConfig:
    """Validated settings of ``benchmarks/export_parity.py``.

    Attributes:
        model: registered model name or ``.keras`` path.
        shared_data_dir: the shared data folder (``celeba/``, ``lfw/``).
        output_dir: where the markdown and JSON report go.
        workdir: where the converted models, sidecars and cached LFW crops go.
        num_faces: CelebA faces for the cosine columns.
        num_calibration: CelebA faces (disjoint from those) for int8 calibration.
        calibration_percentile: int8 calibration leaves out the faces whose activation
            outlier score is above this percentile (``facenet_tf.export.calibration``).
        latency_runs: timed invocations per latency figure.
        threads: thread counts of the latency columns.
        lfw: measure LFW accuracy (the slow part).
        eval_threads: LiteRT threads used to embed the evaluation sets.
        report_suffix: appended to the report's file names (``parity_<model><suffix>``).
        command: the command line, recorded in the report.
    """

    model: str
    shared_data_dir: str
    output_dir: str = "docs/export"
    workdir: str = "/tmp/facenet_tf_export"
    num_faces: int = 1000
    num_calibration: int = 200
    calibration_percentile: float = calibration.DEFAULT_PERCENTILE
    latency_runs: int = 50
    threads: tuple[int, ...] = (1, 4)
    lfw: bool = True
    eval_threads: int = 2
    report_suffix: str = ""
    command: str = ""

    def __post_init__(self):
        if not self.model:
            raise InvalidInputError("--model is required")
        if not (Path(self.shared_data_dir) / faces.CELEBA_ALIGNED).is_dir():
            raise InvalidInputError(
                f"--shared_data_dir {self.shared_data_dir}: no {faces.CELEBA_ALIGNED} folder (the non-LFW faces)"
            )
        if self.lfw and not (Path(self.shared_data_dir) / LFW_DIR / "pairs.txt").is_file():
            raise InvalidInputError(
                f"--shared_data_dir {self.shared_data_dir}: no lfw/pairs.txt (or pass --nolfw)"
            )
        if self.num_faces < 2 or self.num_calibration < 1 or self.latency_runs < 1:
            raise InvalidInputError("--num_faces >= 2, --num_calibration >= 1, --latency_runs >= 1")
        if not self.threads or min(self.threads) < 1 or 1 not in self.threads:
            raise InvalidInputError(
                f"--threads must be positive integers including 1, got {self.threads}"
            )


def cosine_stats(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Row-wise cosine between two float [N, D] arrays: mean, min, and 1st percentile."""
    a = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    b = other / np.maximum(np.linalg.norm(other, axis=1, keepdims=True), 1e-12)
    cos = np.sum(a.astype(np.float64) * b.astype(np.float64), axis=1)
    return {"mean": float(cos.mean()), "min": float(cos.min()), "p01": float(np.percentile(cos, 1))}


def keras_embed(info: ExportModel, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The Keras model's float32 [N, D] embeddings of uint8 [N, H, W, 3] pixels."""
    import tensorflow as tf

    fn = tf.function(lambda x: info.model(tf.cast(x, tf.float32), training=False))
    out = [
        fn(tf.constant(pixels[i : i + batch_size])).numpy()
        for i in range(0, len(pixels), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


def cached(path: Path, compute) -> np.ndarray:
    """``compute()`` saved to ``path`` (.npy), or loaded from there when a run already did
    it: the LFW embeddings of a variant take the longest, and a rerun should not redo them."""
    if path.is_file():
        logging.info("reusing %s", path)
        return np.load(path)
    value = np.asarray(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, value)
    tmp.replace(path)
    return value


def chunked(embed, pixels: np.ndarray, what: str, chunk: int = 1000) -> np.ndarray:
    """``embed`` over ``pixels`` in chunks, logging progress."""
    out = []
    for start in range(0, len(pixels), chunk):
        out.append(embed(pixels[start : start + chunk]))
        logging.info("%s: %d / %d", what, min(start + chunk, len(pixels)), len(pixels))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def weights_digest(model) -> str:
    """Short hash of a Keras model's weights (names cache files)."""
    from facenet_tf.pretrained.cache import weights_sha256

    return weights_sha256(model)[:12]


def lfw_evaluators(shared_data_dir: PathLike):
    """View-2 ``pairs.txt`` and view-1 DevTrain evaluators, the union of their image paths,
    and the rows of that union each evaluator's images are (view 2's, DevTrain's)."""
    from facenet_tf.eval.evaluator import PairEvaluator

    lfw = Path(shared_data_dir) / LFW_DIR
    view2 = PairEvaluator(lfw / "pairs.txt", lfw / "lfw-deepfunneled")
    devtrain = threshold.devtrain_evaluator(lfw / "pairsDevTrain.txt", lfw / "lfw-deepfunneled")
    paths = list(dict.fromkeys(view2.paths + devtrain.paths))
    row = {p: i for i, p in enumerate(paths)}
    rows = (np.array([row[p] for p in view2.paths]), np.array([row[p] for p in devtrain.paths]))
    return view2, devtrain, paths, rows


def lfw_inputs(config: ParityConfig, pipeline, paths) -> tuple[np.ndarray, int]:
    """uint8 [K, H, W, 3] pipeline inputs of the LFW ``paths``, cached in ``workdir``
    (detection is done once per model input and template, not once per variant), and how
    many images had no detected face (their input is the resized whole image)."""
    h, w = pipeline.spec.input_size
    cache = Path(config.workdir) / f"lfw_pipeline_{pipeline.template}_{pipeline.face}_{h}x{w}.npy"
    missed_file = cache.with_name(cache.stem + "_no_face.npy")
    if cache.is_file() and missed_file.is_file():
        chips = np.load(cache, mmap_mode="r")
        if chips.shape[0] == len(paths):
            return np.asarray(chips), int(np.load(missed_file).size)
    chunks, missed = [], []
    for start in range(0, len(paths), 512):
        pixels, no_face = faces.face_inputs(paths[start : start + 512], pipeline)
        chunks.append(pixels)
        missed += no_face
        logging.info("LFW crops: %d / %d", min(start + 512, len(paths)), len(paths))
    chips = np.concatenate(chunks)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, chips)
    np.save(missed_file, np.asarray(missed, str))
    return chips, len(missed)


def lfw_scores(embeddings: np.ndarray, view2, devtrain, rows) -> dict[str, Any]:
    """View-2 10-fold accuracy and the view-1 DevTrain threshold of one set of embeddings
    of the union of their images (``lfw_evaluators``)."""
    result = view2.score(embeddings[rows[0]])
    chosen = threshold.threshold_from_embeddings(devtrain, embeddings[rows[1]])
    return {
        "accuracy": 100.0 * result["accuracy_mean"],
        "accuracy_std": 100.0 * result["accuracy_std"],
        "auc": result["auc"],
        "devtrain_threshold": chosen["threshold"],
        "devtrain_accuracy": 100.0 * chosen["devtrain_accuracy"],
    }


def _cpu() -> tuple[str, list[str]]:
    """CPU model name and the SIMD extensions that decide int8 vs float speed."""
    name, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
            name = value.strip()
        if key.strip() in ("flags", "Features") and not flags:
            wanted = (
                "avx2",
                "fma",
                "avx512f",
                "avx512_vnni",
                "avx_vnni",
                "amx_int8",
                "asimddp",
                "i8mm",
            )
            flags = [f for f in value.split() if f in wanted]
    return name, flags


def _machine() -> dict[str, Any]:
    import tensorflow as tf

    try:
        from importlib.metadata import version

        litert_version = version("ai-edge-litert")
    except Exception:  # metadata is informational only
        litert_version = None
    cpu, simd = _cpu()
    return {
        "cpu": cpu,
        "simd": simd,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 1)
        if hasattr(os, "getloadavg")
        else None,
        "tensorflow": tf.__version__,
        "ai_edge_litert": litert_version,
        "python": platform.python_version(),
    }


def run(config: ParityConfig) -> dict[str, Any]:
    """Measures every variant and writes ``parity_<model>.{md,json}``; returns the report."""
    started = time.time()
    machine = _machine()
    info = model_io.load(config.model)
    pipeline = faces.export_pipeline(info)
    settings = describe_pipeline(pipeline)
    work = Path(config.workdir) / info.name
    work.mkdir(parents=True, exist_ok=True)

    celeba = list_images(Path(config.shared_data_dir) / faces.CELEBA_ALIGNED)
    calib_paths = faces.sample_paths(celeba, config.num_calibration, seed=0)
    eval_paths = faces.sample_paths(celeba, config.num_faces, offset=config.num_calibration, seed=0)
    calib, calib_missed = faces.face_inputs(calib_paths, pipeline)
    # Calibration sees faces only, as ``facenet-tf export-tflite`` does.
    left_out = set(calib_missed)
    calib = calib[[os.fspath(p) not in left_out for p in calib_paths]]
    eval_faces, eval_missed = faces.face_inputs(eval_paths, pipeline)
    logging.info("faces: %d calibration, %d evaluation (%s)", len(calib), len(eval_faces), pipeline)
    reference = keras_embed(info, eval_faces)

    if config.lfw:
        view2, devtrain, lfw_paths, rows = lfw_evaluators(config.shared_data_dir)
        chips, lfw_missed = lfw_inputs(config, pipeline, lfw_paths)
        logging.info("LFW: %d images; embedding with Keras", len(lfw_paths))
        tag = f"{pipeline.template}_{pipeline.face}"
        keras_lfw = cached(
            work / f"lfw_keras_{tag}_{weights_digest(info.model)}.npy",
            lambda: chunked(lambda p: keras_embed(info, p), chips, "LFW keras"),
        )

    keras_row: dict[str, Any] = {"variant": "keras (reference)", "format": "keras"}
    sm_row: dict[str, Any] = {"variant": "savedmodel embed_quantized", "format": "savedmodel"}
    # SavedModel: both signatures on the same faces, as TF Serving would run them.
    import tensorflow as tf

    sm_dir = saved_model.export_saved_model(info, work / "saved_model", overwrite=True)
    loaded = tf.saved_model.load(str(sm_dir))
    sm_float = np.concatenate(
        [loaded.signatures["embed"](images=tf.constant(eval_faces[i : i + 64]))["embeddings"].numpy()
         for i in range(0, len(eval_faces), 64)]
    )  # fmt: skip
    sm_codes = np.concatenate(
        [loaded.signatures["embed_quantized"](images=tf.constant(eval_faces[i : i + 64]))["codes"].numpy()
         for i in range(0, len(eval_faces), 64)]
    )  # fmt: skip
    sm_row["embed_max_abs_diff_to_keras"] = float(np.abs(sm_float - reference).max())
    sm_row["cosine"] = cosine_stats(reference, codes.dequantize(sm_codes))
    sm_row["bytes_per_face"] = int(sm_codes.shape[1] * sm_codes.itemsize)
    if config.lfw:
        keras_row["lfw"] = lfw_scores(keras_lfw, view2, devtrain, rows)
        sm_row["lfw"] = lfw_scores(
            codes.dequantize(codes.quantize(keras_lfw)), view2, devtrain, rows
        )
    keras_row["cosine"] = cosine_stats(reference, reference)

    flatbuffers = {
        q: tflite.convert(
            info,
            q,
            calib if q == "int8" else None,
            "uint8",
            calibration_percentile=config.calibration_percentile,
        )
        for q in tflite.QUANTIZATIONS
    }
    latency = {
        str(n): litert.latency_ms(flatbuffers, n, runs=config.latency_runs) for n in config.threads
    }
    report = {
        "model": info.name,
        "input_size": list(info.input_size),
        "embedding_dim": info.embedding_dim,
        "align_template": info.align_template,
        "pipeline": settings,
        "faces": {
            "source": faces.CELEBA_ALIGNED,
            "evaluation": len(eval_faces),
            "evaluation_no_face": len(eval_missed),
            "calibration": len(calib),
            "calibration_no_face_left_out": len(calib_missed),
            "calibration_percentile": config.calibration_percentile,
            "calibration_outliers_left_out": len(
                calibration.select_faces(info.model, calib, config.calibration_percentile)[1]
            ),
            "disjoint": True,
        },
        "lfw": (
            {
                "pairs": "pairs.txt (view 2), 10 folds",
                "images": len(lfw_paths),
                "no_face_whole_image": lfw_missed,
                "distance": "squared L2 of L2-normalised embeddings",
                "threshold": "DevTrain (view 1) best accuracy",
            }
            if config.lfw
            else None
        ),  # fmt: skip
        "machine": machine,
        "rows": [keras_row, sm_row],
        "complete": False,
        "report_suffix": config.report_suffix,
        "command": config.command,
    }
    embedders = {}
    for quantization, flatbuffer in flatbuffers.items():
        embedder = litert.LiteRTEmbedder(flatbuffer, num_threads=config.eval_threads)
        embedders[quantization] = embedder
        report["rows"].append(
            {
                "variant": f"tflite {quantization}",
                "format": "tflite",
                "file": str(work / f"{info.name}_{quantization}.tflite"),
                "size_bytes": len(flatbuffer),
                "latency_ms": {n: table[quantization] for n, table in latency.items()},
                "input": _tensor_summary(embedder.input_detail),
                "output": _tensor_summary(embedder.output_detail),
                "cosine": cosine_stats(reference, embedder.embed(eval_faces)),
            }
        )
        _flush(report, started, config.output_dir)
    # LFW last, float32 and int8 first: it is the slow part, and the report is rewritten
    # after each variant so that an interrupted run still leaves its figures.
    for quantization in ("float32", "int8", "float16", "dynamic"):
        flatbuffer, row = flatbuffers[quantization], row_of(report, f"tflite {quantization}")
        thr, note = None, "not measured (parity run without LFW)"
        if config.lfw:
            digest = hashlib.sha256(flatbuffer).hexdigest()[:12]
            vectors = cached(
                work / f"lfw_{quantization}_{tag}_{digest}.npy",
                lambda q=quantization: chunked(embedders[q].embed, chips, f"LFW {q}"),
            )
            row["lfw"] = lfw_scores(vectors, view2, devtrain, rows)
            thr = row["lfw"]["devtrain_threshold"]
            note = (
                f"best accuracy on LFW view-1 DevTrain ({row['lfw']['devtrain_accuracy']:.2f}%), "
                f"faces by {pipeline!r}"
            )
        _, side = tflite.write_with_sidecar(
            flatbuffer, row["file"], info, quantization, threshold=thr, threshold_note=note
        )
        row["sidecar"] = str(side)
        _flush(report, started, config.output_dir)
    report["complete"] = True
    _flush(report, started, config.output_dir)
    return report


def _tensor_summary(detail: dict[str, Any]) -> dict[str, Any]:
    return {"dtype": np.dtype(detail["dtype"]).name, "quantization": list(detail["quantization"])}


def _flush(report: dict[str, Any], started: float, output_dir: PathLike) -> None:
    report["seconds"] = time.time() - started
    report["targets"] = targets(report)
    write_report(report, output_dir)
