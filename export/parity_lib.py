"""The parity table: what each export variant costs and keeps, measured.

For every TFLite variant (float32, float16, dynamic, int8) of one model: file size,
LiteRT latency (XNNPACK, batch 1, 1 and 4 threads), cosine to the Keras model over real
non-LFW faces (CelebA), LFW view-2 10-fold accuracy, and the view-1 DevTrain threshold
written into its sidecar. The Keras model itself and the SavedModel's ``embed`` /
``embed_quantized`` signatures are measured alongside. Results go to
``docs/export/parity_<model>.{md,json}``; the converted files to ``work_dir``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from export import codes, faces, litert, model_io, saved_model_lib, tflite_lib, threshold
from export.model_io import ExportModel
from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike
LFW_DIR = "lfw"

# Targets of the export issue.
TARGET_INT8_LFW_DROP = 0.3  # accuracy points vs float32
TARGET_INT8_SIZE_RATIO = 0.27
TARGET_INT8_SPEEDUP = 2.0  # 1 thread, vs float32
TARGET_FLOAT16_COSINE = 0.9999
TARGET_CODES_LFW_DROP = 0.1  # SavedModel int8 codes vs float, accuracy points


@dataclasses.dataclass(frozen=True)
class ParityConfig:
    """Validated settings of ``python -m export.parity``.

    Attributes:
        model: registered model name or ``.keras`` path.
        data_dir: the shared data folder (``celeba/``, ``lfw/``).
        output_dir: where the markdown and JSON report go.
        work_dir: where the converted models, sidecars and cached LFW crops go.
        num_faces: CelebA faces for the cosine columns.
        num_calibration: CelebA faces (disjoint from those) for int8 calibration.
        latency_runs: timed invocations per latency figure.
        threads: thread counts of the latency columns.
        lfw: measure LFW accuracy (the slow part).
        crop: "auto" (``facenet_tf.align`` when it is there, else "box"), "align" or "box".
        eval_threads: LiteRT threads used to embed the evaluation sets.
    """

    model: str
    data_dir: str
    output_dir: str = "docs/export"
    work_dir: str = "/tmp/facenet_tf_export"
    num_faces: int = 1000
    num_calibration: int = 200
    latency_runs: int = 50
    threads: tuple[int, ...] = (1, 4)
    lfw: bool = True
    crop: str = "auto"
    eval_threads: int = 2

    def __post_init__(self):
        if not self.model:
            raise InvalidInputError("--model is required")
        if not (Path(self.data_dir) / faces.CELEBA_ALIGNED).is_dir():
            raise InvalidInputError(
                f"--data_dir {self.data_dir}: no {faces.CELEBA_ALIGNED} folder (the non-LFW faces)"
            )
        if self.lfw and not (Path(self.data_dir) / LFW_DIR / "pairs.txt").is_file():
            raise InvalidInputError(
                f"--data_dir {self.data_dir}: no lfw/pairs.txt (or pass --nolfw)"
            )
        if self.num_faces < 2 or self.num_calibration < 1 or self.latency_runs < 1:
            raise InvalidInputError("--num_faces >= 2, --num_calibration >= 1, --latency_runs >= 1")
        if not self.threads or min(self.threads) < 1:
            raise InvalidInputError(f"--threads must be positive integers, got {self.threads}")
        if self.crop not in ("auto", "align", "box"):
            raise InvalidInputError(f"--crop must be auto, align or box, got {self.crop!r}")


def crop_method(config: ParityConfig, info: ExportModel) -> str:
    """The crop method actually used."""
    if config.crop != "auto":
        return config.crop
    return "align" if faces.alignment_available(info.align_template, info.input_size) else "box"


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


def lfw_keys(data_dir: PathLike):
    """View-2 pairs, view-1 DevTrain pairs and the union of their image keys."""
    from facenet_tf.eval.pairs import read_lfw_pairs

    view2 = read_lfw_pairs(Path(data_dir) / LFW_DIR / "pairs.txt")
    devtrain = threshold.devtrain_pairs(Path(data_dir) / LFW_DIR)
    keys = list(dict.fromkeys(view2.image_keys() + devtrain.image_keys()))
    return view2, devtrain, keys


def lfw_chips(config: ParityConfig, info: ExportModel, keys, method: str) -> np.ndarray:
    """uint8 [K, H, W, 3] LFW crops of ``keys``, cached in ``work_dir`` (cropping and
    detection are done once per model input and template, not once per variant)."""
    from facenet_tf.eval.pairs import lfw_image_path

    h, w = info.input_size
    cache = Path(config.work_dir) / f"lfw_chips_{method}_{info.align_template}_{h}x{w}.npy"
    if cache.is_file():
        chips = np.load(cache, mmap_mode="r")
        if chips.shape[0] == len(keys):
            return np.asarray(chips)
    root = Path(config.data_dir) / LFW_DIR / threshold.LFW_IMAGES
    paths = [lfw_image_path(root, n, i) for n, i in keys]
    chunks = []
    for start in range(0, len(paths), 500):
        chunks.append(
            faces.load_face_crops(
                paths[start : start + 500],
                info.input_size,
                template=info.align_template,
                method=method,
            )
        )
        logging.info("LFW crops: %d / %d", min(start + 500, len(paths)), len(paths))
    chips = np.concatenate(chunks)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, chips)
    return chips


def lfw_scores(embeddings: np.ndarray, keys, view2, devtrain) -> dict[str, Any]:
    """View-2 10-fold accuracy and the view-1 DevTrain threshold of one set of embeddings."""
    from facenet_tf.eval.verification import kfold_verification

    table = dict(zip(keys, embeddings, strict=True))
    distances, issame = threshold.pair_squared_l2(table, view2)
    result = kfold_verification(distances, issame, view2.folds)
    chosen = threshold.threshold_from_embeddings(table, devtrain)
    return {
        "accuracy": 100.0 * result.accuracy_mean,
        "accuracy_std": 100.0 * result.accuracy_std,
        "auc": result.auc,
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
    method = crop_method(config, info)
    work = Path(config.work_dir) / info.name
    work.mkdir(parents=True, exist_ok=True)

    celeba = faces.list_images(Path(config.data_dir) / faces.CELEBA_ALIGNED)
    calib_paths = faces.sample_paths(celeba, config.num_calibration, seed=0)
    eval_paths = faces.sample_paths(celeba, config.num_faces, offset=config.num_calibration, seed=0)
    calib = faces.load_face_crops(
        calib_paths, info.input_size, template=info.align_template, method=method
    )
    eval_faces = faces.load_face_crops(
        eval_paths, info.input_size, template=info.align_template, method=method
    )
    logging.info(
        "faces: %d calibration, %d evaluation (crop=%s)", len(calib), len(eval_faces), method
    )
    reference = keras_embed(info, eval_faces)

    if config.lfw:
        view2, devtrain, keys = lfw_keys(config.data_dir)
        chips = lfw_chips(config, info, keys, method)
        logging.info("LFW: %d images; embedding with Keras", len(keys))
        keras_lfw = keras_embed(info, chips)

    rows: list[dict[str, Any]] = []
    keras_row: dict[str, Any] = {"variant": "keras (reference)", "format": "keras"}
    sm_row: dict[str, Any] = {"variant": "savedmodel embed_quantized", "format": "savedmodel"}
    # SavedModel: both signatures on the same faces, as TF Serving would run them.
    import tensorflow as tf

    sm_dir = saved_model_lib.export_saved_model(info, work / "saved_model", overwrite=True)
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
        keras_row["lfw"] = lfw_scores(keras_lfw, keys, view2, devtrain)
        sm_row["lfw"] = lfw_scores(
            codes.dequantize(codes.quantize(keras_lfw)), keys, view2, devtrain
        )
    keras_row["cosine"] = cosine_stats(reference, reference)

    flatbuffers = {
        q: tflite_lib.convert(info, q, calib if q == "int8" else None, "uint8")
        for q in tflite_lib.QUANTIZATIONS
    }
    latency = {
        str(n): litert.latency_ms(flatbuffers, n, runs=config.latency_runs) for n in config.threads
    }
    for quantization, flatbuffer in flatbuffers.items():
        t0 = time.time()
        path = work / f"{info.name}_{quantization}.tflite"
        row: dict[str, Any] = {
            "variant": f"tflite {quantization}",
            "format": "tflite",
            "file": str(path),
            "size_bytes": len(flatbuffer),
            "latency_ms": {n: table[quantization] for n, table in latency.items()},
        }
        embedder = litert.LiteRTEmbedder(flatbuffer, num_threads=config.eval_threads)
        row["input"] = {"dtype": np.dtype(embedder.input_detail["dtype"]).name,
                        "quantization": list(embedder.input_detail["quantization"])}  # fmt: skip
        row["output"] = {"dtype": np.dtype(embedder.output_detail["dtype"]).name,
                         "quantization": list(embedder.output_detail["quantization"])}  # fmt: skip
        row["cosine"] = cosine_stats(reference, embedder.embed(eval_faces))
        thr, note = None, "not measured (parity run without LFW)"
        if config.lfw:
            logging.info("LFW: embedding %d images with %s", len(keys), quantization)
            row["lfw"] = lfw_scores(embedder.embed(chips), keys, view2, devtrain)
            thr = row["lfw"]["devtrain_threshold"]
            note = (
                f"best accuracy on LFW view-1 DevTrain ({row['lfw']['devtrain_accuracy']:.2f}%), "
                f"crops by {method!r}"
            )
        _, side = tflite_lib.write_with_sidecar(
            flatbuffer, path, info, quantization, threshold=thr, threshold_note=note
        )
        row["sidecar"] = str(side)
        row["seconds"] = time.time() - t0
        rows.append(row)
        logging.info(
            "%s: %s", quantization, json.dumps({k: row[k] for k in ("size_bytes", "cosine")})
        )

    report = {
        "model": info.name,
        "input_size": list(info.input_size),
        "embedding_dim": info.embedding_dim,
        "align_template": info.align_template,
        "crop_method": method,
        "faces": {
            "source": faces.CELEBA_ALIGNED,
            "evaluation": len(eval_faces),
            "calibration": len(calib),
            "disjoint": True,
        },
        "lfw": (
            {
                "pairs": "pairs.txt (view 2), 10 folds",
                "images": len(keys),
                "distance": "squared L2 of L2-normalised embeddings",
                "threshold": "DevTrain (view 1) best accuracy",
            }
            if config.lfw
            else None
        ),  # fmt: skip
        "machine": machine,
        "rows": [keras_row, sm_row, *rows],
        "seconds": time.time() - started,
    }
    report["targets"] = targets(report)
    write_report(report, config.output_dir)
    return report


def _row(report: dict[str, Any], variant: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["variant"] == variant)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured figure and whether it is met."""
    f32, f16, i8 = (_row(report, f"tflite {q}") for q in ("float32", "float16", "int8"))
    out = []
    size_ratio = i8["size_bytes"] / f32["size_bytes"]
    out.append({"target": f"int8 size <= {TARGET_INT8_SIZE_RATIO:.0%} of float32",
                "value": round(size_ratio, 4), "met": size_ratio <= TARGET_INT8_SIZE_RATIO})  # fmt: skip
    speedup = f32["latency_ms"]["1"]["median"] / i8["latency_ms"]["1"]["median"]
    out.append({"target": f"int8 1-thread latency >= {TARGET_INT8_SPEEDUP}x faster than float32",
                "value": round(speedup, 3), "met": speedup >= TARGET_INT8_SPEEDUP})  # fmt: skip
    out.append({"target": f"float16 cosine to Keras >= {TARGET_FLOAT16_COSINE} (min over faces)",
                "value": f16["cosine"]["min"], "met": f16["cosine"]["min"] >= TARGET_FLOAT16_COSINE})  # fmt: skip
    if "lfw" in i8:
        drop = f32["lfw"]["accuracy"] - i8["lfw"]["accuracy"]
        out.append({"target": f"int8 LFW within {TARGET_INT8_LFW_DROP} points of float32",
                    "value": round(drop, 4), "met": abs(drop) <= TARGET_INT8_LFW_DROP})  # fmt: skip
        keras_row, sm = (
            _row(report, "keras (reference)"),
            _row(report, "savedmodel embed_quantized"),
        )
        drop = keras_row["lfw"]["accuracy"] - sm["lfw"]["accuracy"]
        out.append({"target": f"SavedModel int8 codes LFW within {TARGET_CODES_LFW_DROP} points of float",
                    "value": round(drop, 4), "met": abs(drop) <= TARGET_CODES_LFW_DROP})  # fmt: skip
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown page."""
    f32 = _row(report, "tflite float32")
    threads = list(f32["latency_ms"])
    head = ["variant", "size (MB)", "size / f32"]
    head += [f"latency {n}T (ms)" for n in threads]
    head += ["speedup 1T", "cosine mean", "cosine min", "LFW acc (%)", "DevTrain thr"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["rows"]:
        cells = [r["variant"]]
        if "size_bytes" in r:
            cells += [f"{r['size_bytes'] / 1e6:.2f}", f"{r['size_bytes'] / f32['size_bytes']:.3f}"]
            cells += [f"{r['latency_ms'][n]['median']:.1f}" for n in threads]
            cells += [f"{f32['latency_ms']['1']['median'] / r['latency_ms']['1']['median']:.2f}x"]
        else:
            cells += ["-", "-"] + ["-" for _ in threads] + ["-"]
        cells += [f"{r['cosine']['mean']:.6f}", f"{r['cosine']['min']:.6f}"]
        if "lfw" in r:
            cells += [f"{r['lfw']['accuracy']:.2f} ± {r['lfw']['accuracy_std']:.2f}",
                      f"{r['lfw']['devtrain_threshold']:.4f}"]  # fmt: skip
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    m = report["machine"]
    goals = [f"- {'met' if t['met'] else 'MISSED'}: {t['target']} (measured {t['value']})"
             for t in report["targets"]]  # fmt: skip
    faces_note = report["faces"]
    text = [
        f"# Export parity: `{report['model']}`",
        "",
        f"Generated by `python -m export.parity --model={report['model']}`; raw figures in "
        f"`parity_{report['model']}.json`.",
        "",
        *lines,
        "",
        "## Targets",
        *goals,
        "",
        "## How it was measured",
        f"- Input: {report['input_size'][0]}x{report['input_size'][1]} RGB uint8 pixels fed to "
        "every TFLite variant exactly as an app would (LiteRT `ai_edge_litert`, batch 1); "
        "the int8 variant has uint8 input and int8 output (scale 1/128).",
        f"- Cosine: each variant's (dequantised) output against the Keras model on "
        f"{faces_note['evaluation']} CelebA aligned faces (no LFW people); int8 calibrated on "
        f"{faces_note['calibration']} other CelebA faces. Crops: `{report['crop_method']}`.",
        "- Latency: median of timed `invoke()` calls, XNNPACK delegate (LiteRT default), batch 1, "
        f"on {m['cpu_count']} CPU cores ({m['cpu']}; {', '.join(m['simd']) or 'no listed SIMD'}), load average {m['load_average_at_start']} at "
        "start; the machine was shared, so absolute figures are noisy, ratios less so.",
        "- LFW: view-2 `pairs.txt`, 10 folds, threshold per fold from the other nine, squared L2 "
        "of L2-normalised embeddings; `DevTrain thr` is the best-accuracy threshold on view-1 "
        "DevTrain, written into each sidecar.",
        "- `savedmodel embed_quantized`: the SavedModel's int8 codes (`round(clip(x, -1, 1) * 127)`, "
        "128 bytes per face) decoded as code / 127.",
        f"- TensorFlow {m['tensorflow']}, ai-edge-litert {m['ai_edge_litert']}, Python {m['python']}.",
        "",
    ]
    return "\n".join(text)


def write_report(report: dict[str, Any], output_dir: PathLike) -> tuple[Path, Path]:
    """Writes ``parity_<model>.json`` and ``parity_<model>.md``; returns both paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    public = json.loads(json.dumps(report))
    for r in public["rows"]:  # machine-local paths do not belong in the committed report
        for key in ("file", "sidecar"):
            if key in r:
                r[key] = Path(r[key]).name
    json_path = out / f"parity_{report['model']}.json"
    json_path.write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    md_path = out / f"parity_{report['model']}.md"
    md_path.write_text(markdown(report), encoding="utf-8")
    return md_path, json_path
