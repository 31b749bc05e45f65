"""TFLite conversion (float32, float16, dynamic-range, full-integer int8) for LiteRT.

Every variant takes the aligned face as raw RGB pixels, [1, H, W, 3]: uint8 for the
float, float16 and dynamic variants (a CAST op turns them into float32 inside the
model), uint8 or int8 (``input_type``) for the full-integer variant, whose input scale
comes from calibration on raw pixels (1.0 when the representative faces span 0..255).
The model's own ``PixelNormalization`` does the rest, so an app never normalises.

Full-integer int8 calibrates on real faces that are not LFW, made model inputs by the
export face pipeline (``facenet_tf.export.faces``: the crops ``facenet_tf.embed`` uses,
rounded to uint8; photos without a detected face are left out), robust to outlier
faces (``facenet_tf.export.calibration``: faces whose activations exceed the
``calibration_percentile``-th face's are left out of the ranges), and a converted
model that still holds a floating-point operator is rejected (``FloatOpsError``): an
operator the int8 kernels cannot run has to be fixed in the model, not left in float.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.export import calibration, faces, litert, sidecar
from facenet_tf.export.model_io import ExportModel, litert_forward
from facenet_tf.io.files import list_images

PathLike = str | os.PathLike
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
INPUT_TYPES = ("uint8", "int8")
INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"


class FloatOpsError(FaceNetError, RuntimeError):
    """A full-integer conversion kept floating-point operators."""


@dataclasses.dataclass(frozen=True)
class TFLiteConfig:
    """Validated settings of ``facenet-tf export-tflite``.

    Attributes:
        model: registered model name or ``.keras`` path.
        quantization: one of ``QUANTIZATIONS``.
        output: the ``.tflite`` file to write (its sidecar goes beside it as ``.json``).
        representative_dir: folder of real face photos (not LFW) for int8 calibration;
            faces are detected and aligned by the model's face pipeline.
        input_type: "uint8" or "int8" input of the int8 variant.
        num_calibration: faces drawn from ``representative_dir`` for calibration.
        calibration_percentile: faces whose activation outlier score is above this
            percentile of the drawn faces' are left out of calibration (100: none).
        template: alignment template of an unregistered model's faces (a registered
            model uses its own); needed for int8 calibration and ``lfw_dir``.
        lfw_dir: the LFW image tree; with ``dev_train_pairs`` the sidecar gets a view-1
            DevTrain threshold.
        dev_train_pairs: LFW view-1 ``pairsDevTrain.txt`` (with ``lfw_dir``).
        overwrite: replace an existing output.
    """

    model: str
    quantization: str
    output: str
    representative_dir: str | None = None
    input_type: str = "uint8"
    num_calibration: int = 200
    calibration_percentile: float = calibration.DEFAULT_PERCENTILE
    template: str | None = None
    lfw_dir: str | None = None
    dev_train_pairs: str | None = None
    overwrite: bool = False

    def __post_init__(self):
        if bool(self.lfw_dir) != bool(self.dev_train_pairs):
            raise InvalidInputError("--lfw_dir and --dev_train_pairs: give both or neither")
        if not self.model:
            raise InvalidInputError("--model is required (a registered name or a .keras file)")
        if self.quantization not in QUANTIZATIONS:
            raise InvalidInputError(
                f"--quantization must be one of {', '.join(QUANTIZATIONS)}, got {self.quantization!r}"
            )
        if self.input_type not in INPUT_TYPES:
            raise InvalidInputError(
                f"--input_type must be one of {', '.join(INPUT_TYPES)}, got {self.input_type!r}"
            )
        if self.quantization == "int8" and not self.representative_dir:
            raise InvalidInputError(
                "--quantization=int8 needs --representative_dir: a folder of real face photos "
                "(not LFW, e.g. ../shared/data/celeba/aligned_178x218) to calibrate the "
                "activation ranges"
            )
        if self.quantization != "int8" and self.input_type != "uint8":
            raise InvalidInputError("--input_type applies only to --quantization=int8")
        if self.representative_dir and "lfw" in Path(self.representative_dir).as_posix().lower():
            raise InvalidInputError(
                f"--representative_dir {self.representative_dir}: LFW is for evaluation only; "
                "calibrate on other faces"
            )
        if self.num_calibration < 1:
            raise InvalidInputError(f"--num_calibration must be >= 1, got {self.num_calibration}")
        _check_percentile(self.calibration_percentile, "--calibration_percentile")
        if not self.output.endswith(".tflite"):
            raise InvalidInputError(f"--output must end in .tflite, got {self.output!r}")
        if Path(self.output).exists() and not self.overwrite:
            raise InvalidInputError(
                f"--output {self.output} exists; pass --overwrite to replace it"
            )


def _check_percentile(value: float, name: str) -> None:
    if not 0 < value <= 100:
        raise InvalidInputError(f"{name} must be in (0, 100], got {value}")


def representative_faces(
    directory: PathLike,
    info: ExportModel,
    count: int = 200,
    *,
    template: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Up to ``count`` real faces from ``directory`` as model inputs, uint8 [N, H, W, 3].

    The photos go through ``faces.export_pipeline(info)``; those without a detected face
    are left out (logged), so calibration sees only faces as an app would feed them.

    Raises:
        InvalidInputError: no images, no face in any of them, or an unregistered model
            without ``template``.
    """
    paths = list_images(directory)
    if not paths:
        raise InvalidInputError(f"representative faces {directory}: no image files in the folder")
    pipeline = faces.export_pipeline(info, template=template)
    chosen = faces.sample_paths(paths, min(count, len(paths)), seed=seed)
    pixels, missing = faces.face_inputs(chosen, pipeline)
    if missing:
        logging.warning(
            "calibration: no face found in %d of %d photos, left out: %s",
            len(missing),
            len(chosen),
            ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
        )
        skip = set(missing)
        pixels = pixels[[os.fspath(p) not in skip for p in chosen]]
    if not len(pixels):
        raise InvalidInputError(f"representative faces {directory}: no face found in any photo")
    return pixels


def _concrete_function(info: ExportModel, input_dtype):
    import tensorflow as tf

    forward = litert_forward(info.model)
    spec = tf.TensorSpec([1, *info.input_size, 3], input_dtype, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(images):
        return {OUTPUT_NAME: forward(tf.cast(images, tf.float32))}

    return serve.get_concrete_function()


def convert(
    info: ExportModel,
    quantization: str,
    representative: np.ndarray | None = None,
    input_type: str = "uint8",
    calibration_percentile: float = calibration.DEFAULT_PERCENTILE,
) -> bytes:
    """Converts a model to a TFLite flatbuffer.

    Args:
        info: the model to convert.
        quantization: "float32", "float16" (float16 weights), "dynamic" (int8 weights,
            float activations) or "int8" (int8 weights and activations).
        representative: uint8 [N, H, W, 3] real aligned faces, required for "int8".
        input_type: "uint8" or "int8" input for "int8".
        calibration_percentile: for "int8", representative faces whose activations
            exceed this percentile's are left out of the ranges
            (``facenet_tf.export.calibration.select_faces``); 100 uses every face.

    Returns:
        The flatbuffer bytes.

    Raises:
        InvalidInputError: bad arguments, or "int8" without representative faces.
        FloatOpsError: the int8 model still contains floating-point operators.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise InvalidInputError(
            f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}"
        )
    if input_type not in INPUT_TYPES:
        raise InvalidInputError(f"input_type must be one of {INPUT_TYPES}, got {input_type!r}")
    if quantization == "int8":
        if representative is None or len(representative) == 0:
            raise InvalidInputError(
                "representative: full-integer int8 needs real aligned faces (not LFW) to "
                "calibrate activation ranges; none were given"
            )
        expected = (*info.input_size, 3)
        if representative.dtype != np.uint8 or tuple(representative.shape[1:]) != expected:
            raise InvalidInputError(
                f"representative: expected uint8 [N, {expected[0]}, {expected[1]}, 3], "
                f"got {representative.dtype} {representative.shape}"
            )
        _check_percentile(calibration_percentile, "calibration_percentile")
        representative, _ = calibration.select_faces(
            info.model, representative, calibration_percentile
        )
    # Float variants take uint8 and cast in-graph; int8 calibrates on float pixels and
    # the converter swaps the float input for a quantised one.
    input_dtype = tf.float32 if quantization == "int8" else tf.uint8
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [_concrete_function(info, input_dtype)]
    )
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":

        def calibration_data() -> Iterator[list[np.ndarray]]:
            for face in representative:
                yield [face[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_data
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8 if input_type == "uint8" else tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The converter asks for input statistics it then derives from calibration anyway.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        flatbuffer = converter.convert()
    if quantization == "int8":
        check_full_integer(flatbuffer, info.name)
    return flatbuffer


def check_full_integer(flatbuffer: bytes, model_name: str = "model") -> None:
    """Raises ``FloatOpsError`` naming every operator that touches a float tensor."""
    bad = litert.float_ops(flatbuffer)
    if bad:
        lines = "\n".join(
            f"  {op['op']} (inputs {op['inputs']}, outputs {op['outputs']}): "
            f"{', '.join(op['tensors'])}"
            for op in bad[:20]
        )
        raise FloatOpsError(
            f"{model_name}: the int8 model still runs {len(bad)} operator(s) in floating point; "
            f"the layers named below need an int8-friendly form in the model:\n{lines}"
        )


def write_with_sidecar(
    flatbuffer: bytes,
    output: PathLike,
    info: ExportModel,
    quantization: str,
    *,
    threshold: float | None = None,
    threshold_note: str | None = None,
) -> tuple[Path, Path]:
    """Writes the ``.tflite`` file and its sidecar; returns both paths."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(flatbuffer)
    interpreter = litert.make_interpreter(flatbuffer, delegates=False)
    contract = sidecar.build_sidecar(
        model_file=out,
        model_bytes=flatbuffer,
        input_detail=interpreter.get_input_details()[0],
        output_detail=interpreter.get_output_details()[0],
        info=info,
        variant=quantization,
        threshold=threshold,
        threshold_note=threshold_note,
        signatures=interpreter.get_signature_list(),
    )
    return out, sidecar.write_sidecar(sidecar.sidecar_path(out), contract)


def run(config: TFLiteConfig) -> dict[str, Any]:
    """Loads the model, converts it, writes ``config.output`` and its sidecar.

    Returns:
        {"model": path, "sidecar": path, "threshold": float | None}.
    """
    from facenet_tf.export import model_io

    info = model_io.load(config.model)
    representative = None
    if config.quantization == "int8":
        representative = representative_faces(
            config.representative_dir, info, config.num_calibration, template=config.template
        )
        logging.info(
            "calibrating on %d faces from %s", len(representative), config.representative_dir
        )
    flatbuffer = convert(
        info,
        config.quantization,
        representative,
        config.input_type,
        calibration_percentile=config.calibration_percentile,
    )
    threshold, note = None, None
    if config.lfw_dir:
        from facenet_tf.export import threshold as devtrain

        embedder = litert.LiteRTEmbedder(flatbuffer, num_threads=os.cpu_count() or 1)
        pipeline = faces.export_pipeline(info, template=config.template)
        result = devtrain.devtrain_threshold(
            embedder.embed, config.dev_train_pairs, config.lfw_dir, pipeline
        )
        threshold, note = result["threshold"], result["note"]
    model_path, sidecar_file = write_with_sidecar(
        flatbuffer,
        config.output,
        info,
        config.quantization,
        threshold=threshold,
        threshold_note=note,
    )
    return {"model": str(model_path), "sidecar": str(sidecar_file), "threshold": threshold}
