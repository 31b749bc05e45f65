"""The JSON sidecar next to each exported model: the contract an app codes against.

It is built from the converted model's own tensors (LiteRT's input/output details), so
shape, dtype and quantisation parameters are exactly what the interpreter reports.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.export.model_io import ExportModel

PathLike = str | os.PathLike
SIDECAR_FORMAT = "facenet_tf.export.sidecar/1"
THRESHOLD_SOURCE = (
    "LFW view 1 DevTrain (pairsDevTrain.txt, 1,100 + 1,100 pairs): the best-accuracy threshold "
    "on this variant's own outputs; LFW view 2 (pairs.txt) is never used for it"
)
DISTANCE = (
    "squared L2 distance between L2-normalised (dequantised) embeddings, in [0, 4]; "
    "same person when distance <= threshold (equivalently cosine >= 1 - threshold / 2)"
)


def sidecar_path(model_path: PathLike) -> Path:
    """``face.tflite`` -> ``face.json`` (same folder)."""
    return Path(model_path).with_suffix(".json")


def _quantization(detail: dict[str, Any]) -> dict[str, Any] | None:
    scale, zero_point = detail["quantization"]
    if scale == 0.0:  # LiteRT's marker for a tensor that is not quantised
        return None
    return {"scale": float(scale), "zero_point": int(zero_point)}


def _feed_instructions(dtype: str, quant: dict[str, Any] | None) -> str:
    if dtype == "uint8" and (quant is None or (quant["scale"] == 1.0 and quant["zero_point"] == 0)):
        return "raw RGB pixels 0..255 of the aligned face, as uint8; no normalisation"
    if dtype == "int8" and quant is not None and quant["scale"] == 1.0:
        return (
            f"raw RGB pixels p in 0..255 of the aligned face, fed as the int8 value "
            f"p + ({quant['zero_point']}); no other normalisation"
        )
    if quant is not None:
        return (
            f"raw RGB pixels p in 0..255, quantised as round(p / {quant['scale']!r}) + "
            f"{quant['zero_point']} and clamped to the {dtype} range"
        )
    return f"raw RGB pixels 0..255 of the aligned face, as {dtype}; no normalisation"


def template_reference_points(
    template: str | None, crop_size: tuple[int, int] | None = None
) -> list[list[float]] | None:
    """The template's five reference points (x, y) in pixels of a ``crop_size`` crop,
    when ``facenet_tf.align`` provides the template (None otherwise)."""
    if template is None:
        return None
    try:
        from facenet_tf.align.templates import get_template
    except ImportError:
        return None
    try:
        tmpl = get_template(template)
    except Exception:  # an unknown or not yet fitted template has no points to report
        return None
    side = crop_size[1] if crop_size is not None else None
    points = tmpl.scaled(side) if hasattr(tmpl, "scaled") else tmpl.points
    return np.asarray(points, dtype=np.float64).reshape(-1, 2).round(4).tolist()


def embedding_space(name: str, compatible_with: str | None) -> dict[str, Any]:
    """Whose vectors this model's vectors can be compared with, and at which threshold.

    Args:
        name: the exported model's registry name.
        compatible_with: the model it is harmonic with (``ModelSpec.compatible_with``).

    Returns:
        ``{"compatible_with": None}`` for a model with a space of its own; otherwise the
        reference model's name and the cross-model DevTrain threshold (one vector of each
        model), or None when it was not calibrated.
    """
    if compatible_with is None:
        return {
            "compatible_with": None,
            "note": f"compare only with vectors of {name} itself",
        }
    from facenet_tf.thresholds import cross_model_threshold

    return {
        "compatible_with": compatible_with,
        "cross_model_threshold": cross_model_threshold(name, compatible_with),
        "note": (
            f"harmonic embedding: vectors live in {compatible_with}'s space, so they can be "
            f"compared with vectors {compatible_with} made (a gallery enrolled with it needs "
            "no re-enrollment); cross_model_threshold is the LFW view-1 DevTrain threshold "
            "of pairs with one vector of each model"
        ),
    }


def build_sidecar(
    *,
    model_file: PathLike,
    model_bytes: bytes,
    input_detail: dict[str, Any],
    output_detail: dict[str, Any],
    info: ExportModel,
    variant: str,
    threshold: float | None = None,
    threshold_note: str | None = None,
    signatures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar dictionary for one converted model.

    Args:
        model_file: where the model is written (only its name is recorded).
        model_bytes: the flatbuffer (its SHA-256 ties the sidecar to it).
        input_detail: LiteRT ``get_input_details()[0]`` of the model.
        output_detail: LiteRT ``get_output_details()[0]``.
        info: the exported model's metadata.
        variant: "float32", "float16", "dynamic" or "int8".
        threshold: recommended squared-L2 threshold from LFW view-1 DevTrain, or None
            when it was not measured.
        threshold_note: why the threshold is missing, or how it was measured.
        signatures: LiteRT ``get_signature_list()`` of the model (signature runner names).

    Returns:
        A JSON-ready dict.
    """
    in_dtype = np.dtype(input_detail["dtype"]).name
    out_dtype = np.dtype(output_detail["dtype"]).name
    in_quant = _quantization(input_detail)
    out_quant = _quantization(output_detail)
    points = template_reference_points(info.align_template, info.input_size)
    if out_quant is not None:
        decode = (
            f"x = {out_quant['scale']!r} * (q - {out_quant['zero_point']}); the result is "
            "close to unit length: L2-normalise before comparing"
        )
    else:
        decode = "float32 unit vectors; use as they are"
    return {
        "format": SIDECAR_FORMAT,
        "model": info.name,
        "variant": variant,
        "file": Path(model_file).name,
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "signatures": signatures,
        "input": {
            "name": input_detail["name"],
            "shape": [int(v) for v in input_detail["shape"]],
            "dtype": in_dtype,
            "quantization": in_quant,
            "layout": "NHWC",
            "channel_order": "RGB",
            "feed": _feed_instructions(in_dtype, in_quant),
        },
        "pixel_normalization": {
            "baked_in": True,
            "formula": "(pixel - mean) * scale, per RGB channel, inside the model",
            "mean": info.pixel_mean,
            "scale": info.pixel_scale,
        },
        "alignment": {
            "template": info.align_template,
            "crop_size": list(info.input_size),
            "reference_points": points,
            "note": (
                "five (x, y) landmarks in crop pixels: left eye, right eye, nose, left and "
                "right mouth corner; warp with a similarity transform"
                if points is not None
                else "reference points come from facenet_tf.align's template of this name"
            ),
        },
        "output": {
            "name": output_detail["name"],
            "shape": [int(v) for v in output_detail["shape"]],
            "dtype": out_dtype,
            "quantization": out_quant,
            "decode": decode,
        },
        "embedding_space": embedding_space(info.name, info.spec.compatible_with),
        "verification": {
            "distance": DISTANCE,
            "threshold": None if threshold is None else float(threshold),
            "source": THRESHOLD_SOURCE if threshold is not None else None,
            "note": threshold_note
            or (
                "not measured for this file; run facenet-tf export-tflite with --lfw_dir and --dev_train_pairs "
                "(or benchmarks/export_parity.py) to measure it on LFW view 1 DevTrain"
                if threshold is None
                else None
            ),
        },
    }


def write_sidecar(path: PathLike, sidecar: dict[str, Any]) -> Path:
    """Writes ``sidecar`` as indented JSON; returns the path."""
    out = Path(path)
    out.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return out


def read_sidecar(path: PathLike) -> dict[str, Any]:
    """Reads a sidecar written by ``write_sidecar``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
