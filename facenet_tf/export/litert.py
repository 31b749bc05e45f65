"""Running exported TFLite models in LiteRT exactly as an app does: uint8 pixels in,
one face per invocation (batch 1), XNNPACK on the CPU.

``ai_edge_litert``'s interpreter applies the XNNPACK delegate by default
(``OpResolverType.AUTO``); ``op_report`` uses the plain built-in kernels so that the
model's own operators and tensors are listed, not the delegate's partitions.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet_tf.errors import InvalidInputError

PathLike = str | os.PathLike
FLOAT_DTYPES = (np.float32, np.float16, np.float64)


def make_interpreter(model: bytes | PathLike, num_threads: int = 1, *, delegates: bool = True):
    """A LiteRT interpreter with its tensors allocated.

    Args:
        model: the flatbuffer bytes or a ``.tflite`` path.
        num_threads: CPU threads (XNNPACK and built-in kernels).
        delegates: False uses only the built-in kernels (for inspecting the model's ops).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    kwargs: dict[str, Any] = {"num_threads": num_threads, "experimental_op_resolver_type": resolver}
    if isinstance(model, bytes | bytearray):
        kwargs["model_content"] = bytes(model)
    else:
        kwargs["model_path"] = os.fspath(model)
    interpreter = Interpreter(**kwargs)
    interpreter.allocate_tensors()
    return interpreter


def pixels_to_input(pixels: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Turns uint8 RGB pixels into what the model's input tensor takes, as an app would.

    Args:
        pixels: uint8 [N, H, W, 3].
        detail: the interpreter's input detail.

    Returns:
        An array of the input's dtype: the pixels as they are (uint8 with scale 1 and
        zero point 0, or float), shifted by the zero point (int8 with scale 1), or
        quantised with the tensor's scale and zero point otherwise.
    """
    if pixels.dtype != np.uint8:
        raise InvalidInputError(f"pixels: expected uint8, got {pixels.dtype}")
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind == "f":
        return pixels.astype(dtype)
    if scale == 0.0 or (scale == 1.0 and zero_point == 0 and dtype == np.uint8):
        return pixels.astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(pixels.astype(np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def output_to_float(raw: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Dequantises an output (``scale * (q - zero_point)``); float outputs pass through."""
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind == "f" or scale == 0.0:
        return raw.astype(np.float32)
    return (scale * (raw.astype(np.float32) - zero_point)).astype(np.float32)


class LiteRTEmbedder:
    """Embeds uint8 faces with a TFLite model, one face per ``invoke``.

    Args:
        model: flatbuffer bytes or ``.tflite`` path.
        num_threads: CPU threads.
    """

    def __init__(self, model: bytes | PathLike, num_threads: int = 1):
        self.interpreter = make_interpreter(model, num_threads)
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]
        shape = [int(v) for v in self.input_detail["shape"]]
        if len(shape) != 4 or shape[-1] != 3:
            raise InvalidInputError(f"TFLite model: expected an input [1, H, W, 3], got {shape}")
        self.input_size = (shape[1], shape[2])

    def raw(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> the raw output tensor values [N, D] (model dtype)."""
        if pixels.ndim != 4 or tuple(pixels.shape[1:3]) != self.input_size:
            raise InvalidInputError(
                f"pixels: expected [N, {self.input_size[0]}, {self.input_size[1]}, 3], "
                f"got {pixels.shape}"
            )
        feed = pixels_to_input(pixels, self.input_detail)
        rows = []
        for k in range(feed.shape[0]):
            self.interpreter.set_tensor(self.input_detail["index"], feed[k : k + 1])
            self.interpreter.invoke()
            rows.append(self.interpreter.get_tensor(self.output_detail["index"])[0].copy())
        if not rows:
            return np.zeros((0, int(self.output_detail["shape"][-1])), self.output_detail["dtype"])
        return np.stack(rows)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 [N, D] dequantised embeddings (not re-normalised)."""
        return output_to_float(self.raw(pixels), self.output_detail)


def latency_ms(
    models: dict[str, bytes | PathLike], num_threads: int, *, runs: int = 50, warmup: int = 5
) -> dict[str, dict[str, float]]:
    """Wall-clock time of one batch-1 ``invoke`` per model (XNNPACK, ``num_threads``).

    The models are timed round-robin, one invoke each per round, so that a busy shared
    machine slows them all alike and their ratios stay meaningful.

    Args:
        models: name -> flatbuffer bytes or ``.tflite`` path.
        num_threads: CPU threads of every interpreter.
        runs: timed rounds.
        warmup: untimed rounds first.

    Returns:
        name -> {"median": ms, "mean": ms, "min": ms, "runs": runs}.
    """
    rng = np.random.default_rng(0)
    interpreters = {}
    for name, model in models.items():
        interpreter = make_interpreter(model, num_threads)
        detail = interpreter.get_input_details()[0]
        pixels = rng.integers(0, 256, size=[int(v) for v in detail["shape"]], dtype=np.uint8)
        interpreter.set_tensor(detail["index"], pixels_to_input(pixels, detail))
        interpreters[name] = interpreter
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(warmup + runs):
        for name, interpreter in interpreters.items():
            start = time.perf_counter()
            interpreter.invoke()
            if round_ >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {
        name: {
            "median": statistics.median(t),
            "mean": statistics.fmean(t),
            "min": min(t),
            "runs": runs,
        }
        for name, t in times.items()
    }


def op_report(model: bytes | PathLike) -> list[dict[str, Any]]:
    """The model's operators with the dtypes of their input and output tensors.

    Returns:
        One dict per operator: {"op": name, "index": i, "inputs": [dtype names],
        "outputs": [dtype names], "tensors": [tensor names]}.
    """
    interpreter = make_interpreter(model, 1, delegates=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    report = []
    for op in interpreter._get_ops_details():  # the only listing LiteRT offers
        ins = [tensors[i] for i in op["inputs"] if i >= 0 and i in tensors]
        outs = [tensors[i] for i in op["outputs"] if i >= 0 and i in tensors]
        report.append(
            {
                "op": op["op_name"],
                "index": int(op["index"]),
                "inputs": [np.dtype(t["dtype"]).name for t in ins],
                "outputs": [np.dtype(t["dtype"]).name for t in outs],
                "tensors": [t["name"] for t in ins + outs],
            }
        )
    return report


def float_ops(model: bytes | PathLike) -> list[dict[str, Any]]:
    """Operators that read or write a floating-point tensor (empty for a full-integer model)."""
    names = {np.dtype(d).name for d in FLOAT_DTYPES}
    return [
        op
        for op in op_report(model)
        if any(d in names for d in op["inputs"] + op["outputs"]) or op["op"] == "DEQUANTIZE"
    ]


def file_size(path: PathLike) -> int:
    """Size of a file in bytes."""
    return Path(path).stat().st_size
