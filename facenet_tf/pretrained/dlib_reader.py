"""Pure-Python reader of dlib's serialized face-recognition network (no dlib needed).

The file is ``dlib_face_recognition_resnet_model_v1.dat`` from the ``face-recognition-models``
package: Davis King's 29-convolution ResNet (``anet_type`` in dlib's
examples/dnn_face_recognition_ex.cpp), released as CC0.

dlib writes a network the way its C++ type nests: the loss layer first, then every layer's
header on the way down (output -> input), then each layer's own details on the way back up
(input -> output). Tag and skip layers write only a version number, so which tag a skip or
``add_prev`` refers to comes from the known network type (``expected_layer_sequence``) and
the reader checks the file against it layer by layer.

Encodings (dlib/serialize.h, dlib/float_details.h):
  * integer: a control byte (low nibble = number of magnitude bytes, 0x80 = negative),
    then the magnitude, little-endian;
  * float/double: integer mantissa, integer exponent; value = mantissa * 2**exponent, with
    exponents 32000/32001/32002 meaning +inf/-inf/NaN;
  * string: integer length then bytes; bool: one ASCII byte '0' or '1';
  * tensor: integer version (2), integers n, k, nr, nc, then n*k*nr*nc little-endian
    float32 values; an alias tensor: version (1) and its shape only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facenet_tf.errors import InvalidInputError

DLIB_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_PREDICTOR_5_FILE = "shape_predictor_5_face_landmarks.dat"
PACKAGE = "face_recognition_models"

_FLOAT_SPECIAL = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


class DlibFormatError(InvalidInputError):
    """The file is not the dlib network this reader knows; the message says where."""


def find_model_file(filename: str = DLIB_MODEL_FILE) -> Path:
    """Locates a model file of the installed ``face-recognition-models`` package.

    The package is found with ``importlib.util.find_spec`` and never imported (its
    ``__init__`` imports ``pkg_resources``, which is absent on modern setuptools).

    Args:
        filename: file name under the package's ``models/`` folder.

    Returns:
        Path of the file.

    Raises:
        FileNotFoundError: the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "models" / filename
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{filename}: not found; install the package with `pip install face-recognition-models` "
        f"(searched {locations or 'nothing: the package is not installed'})"
    )


class ByteReader:
    """Sequential decoder of dlib's serialization primitives over an in-memory buffer.

    Args:
        data: the file contents.
        name: how error messages refer to the data (usually the file path).
    """

    def __init__(self, data: bytes, name: str = "<bytes>"):
        self.data = memoryview(data)
        self.pos = 0
        self.name = name

    def _fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.name}: {what} at byte offset {self.pos}")

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self._fail(f"unexpected end of data (wanted {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def read_int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.pos -= 1
            raise self._fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        if exponent in _FLOAT_SPECIAL:
            return _FLOAT_SPECIAL[exponent]
        return math.ldexp(mantissa, exponent)

    def read_string(self) -> str:
        length = self.read_int()
        if length < 0:
            raise self._fail(f"negative string length {length}")
        return bytes(self._take(length)).decode("latin-1")

    def read_bool(self) -> bool:
        byte = bytes(self._take(1))
        if byte not in (b"0", b"1"):
            self.pos -= 1
            raise self._fail(f"bad bool byte {byte!r}")
        return byte == b"1"

    def expect_int(self, expected: int, what: str) -> None:
        start = self.pos
        value = self.read_int()
        if value != expected:
            self.pos = start
            raise self._fail(f"{what}: expected {expected}, got {value}")

    def read_shape(self) -> tuple[int, int, int, int]:
        shape = tuple(self.read_int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self._fail(f"negative tensor shape {shape}")
        return shape  # type: ignore[return-value]

    def read_tensor(self) -> np.ndarray:
        """A dlib tensor: returns float32 [n, k, nr, nc] (a copy)."""
        self.expect_int(2, "tensor version")
        shape = self.read_shape()
        count = math.prod(shape)
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        """An alias tensor (a view into a layer's params): returns its shape."""
        self.expect_int(1, "alias tensor version")
        return self.read_shape()


@dataclasses.dataclass(frozen=True)
class DlibLayer:
    """One layer of the network, in input -> output order.

    Attributes:
        kind: "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "tag", "skip" or
            "fc".
        params: arrays; con: ``filters`` float32 [F, C, kh, kw], ``biases`` [F];
            affine: ``gamma`` [C], ``beta`` [C]; fc: ``weights`` [inputs, outputs] (y = x W).
        attrs: integers; con: num_filters, nr, nc, stride_y, stride_x, pad_y, pad_x;
            pools: nr, nc, stride_y, stride_x, pad_y, pad_x (nr = nc = 0: the whole map);
            tag/skip/add_prev: ``tag`` id; fc: num_inputs, num_outputs, bias_mode.
    """

    kind: str
    params: dict = dataclasses.field(default_factory=dict)
    attrs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DlibNetwork:
    """Everything the file says that a forward pass needs.

    Attributes:
        input_mean: (R, G, B) pixel means subtracted before dividing by 256.
        input_size: (rows, cols) of the chip the input layer accepts.
        loss_margin: loss_metric margin (training only).
        loss_distance_threshold: dlib's same-person threshold on raw descriptor distances.
        layers: the layers from input to output.
    """

    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    loss_margin: float
    loss_distance_threshold: float
    layers: tuple[DlibLayer, ...]

    def count(self, kind: str) -> int:
        return sum(layer.kind == kind for layer in self.layers)


def expected_layer_sequence() -> list[tuple[str, int]]:
    """The layer kinds of dlib's ``anet_type`` from input to output, with tag ids.

    ``(kind, tag)``: tag is the tag id for "tag", "skip" and "add_prev", else 0. Stages
    (dlib's alevel4 .. alevel0) have 32, 64, 128, 256, 256 filters and 3, 4, 3, 3, 1
    residual blocks; all but the first stage start with a down-sampling block.
    """
    seq: list[tuple[str, int]] = [("con", 0), ("affine", 0), ("relu", 0), ("max_pool", 0)]
    block = [("con", 0), ("affine", 0), ("relu", 0), ("con", 0), ("affine", 0)]
    for stage, blocks in enumerate((3, 4, 3, 3, 1)):
        for index in range(blocks):
            if stage > 0 and index == 0:
                # residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<...>>>>>>
                seq += [("tag", 1), *block, ("tag", 2), ("skip", 1), ("avg_pool", 0)]
                seq += [("add_prev", 2), ("relu", 0)]
            else:
                # residual = add_prev1<block<tag1<...>>>
                seq += [("tag", 1), *block, ("add_prev", 1), ("relu", 0)]
    seq += [("avg_pool", 0), ("fc", 0)]
    return seq


def _read_con(r: ByteReader) -> DlibLayer:
    params = r.read_tensor().reshape(-1)
    names = ("num_filters", "nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")
    attrs = {name: r.read_int() for name in names}
    filters_shape = r.read_alias_tensor()
    biases_shape = r.read_alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers (training only)
        r.read_float()
    n_filters = math.prod(filters_shape)
    n_biases = math.prod(biases_shape)
    if n_filters + n_biases != params.size or filters_shape[0] != attrs["num_filters"]:
        raise r._fail(f"con_: params of size {params.size} do not fit {filters_shape}")
    return DlibLayer(
        "con",
        {
            "filters": params[:n_filters].reshape(filters_shape),
            "biases": params[n_filters : n_filters + n_biases].copy(),
        },
        attrs,
    )


def _read_affine(r: ByteReader) -> DlibLayer:
    params = r.read_tensor().reshape(-1)
    gamma_shape = r.read_alias_tensor()
    beta_shape = r.read_alias_tensor()
    mode = r.read_int()
    n = math.prod(gamma_shape)
    if math.prod(beta_shape) != n or params.size != 2 * n:
        raise r._fail(f"affine_: params of size {params.size} do not fit gamma {gamma_shape}")
    return DlibLayer(
        "affine", {"gamma": params[:n].copy(), "beta": params[n:].copy()}, {"mode": mode}
    )


def _read_pool(kind: str) -> Callable[[ByteReader], DlibLayer]:
    def read(r: ByteReader) -> DlibLayer:
        names = ("nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")
        return DlibLayer(kind, {}, {name: r.read_int() for name in names})

    return read


def _read_fc(r: ByteReader) -> DlibLayer:
    num_outputs = r.read_int()
    num_inputs = r.read_int()
    params = r.read_tensor()
    weights_shape = r.read_alias_tensor()
    biases_shape = r.read_alias_tensor()
    bias_mode = r.read_int()
    for _ in range(4):  # learning-rate and weight-decay multipliers (training only)
        r.read_float()
    if weights_shape[:2] != (num_inputs, num_outputs) or math.prod(biases_shape) != 0:
        raise r._fail(f"fc_: unexpected weights {weights_shape} / biases {biases_shape}")
    weights = params.reshape(-1)[: num_inputs * num_outputs].reshape(num_inputs, num_outputs)
    attrs = {"num_inputs": num_inputs, "num_outputs": num_outputs, "bias_mode": bias_mode}
    return DlibLayer("fc", {"weights": weights.copy()}, attrs)


_DETAIL_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": lambda r: DlibLayer("relu"),
    "max_pool_2": _read_pool("max_pool"),
    "avg_pool_2": _read_pool("avg_pool"),
    "add_prev_": lambda r: DlibLayer("add_prev"),
    "fc_2": _read_fc,
}


def _skip_layer_state(r: ByteReader) -> None:
    # this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled,
    # then x_grad, cached_output, params_grad (empty in a saved network).
    for _ in range(3):
        r.read_bool()
    for _ in range(3):
        r.read_tensor()


def _read_details(r: ByteReader, expected: tuple[str, int]) -> DlibLayer:
    start = r.pos
    name = r.read_string()
    reader = _DETAIL_READERS.get(name)
    if reader is None:
        r.pos = start
        raise r._fail(f"unknown layer type {name!r}")
    layer = reader(r)
    if layer.kind != expected[0]:
        r.pos = start
        raise r._fail(f"expected a {expected[0]} layer, found {name!r}")
    if layer.kind == "add_prev":
        layer = DlibLayer("add_prev", {}, {"tag": expected[1]})
    return layer


def parse_network(data: bytes, name: str = "<bytes>") -> DlibNetwork:
    """Decodes the bytes of ``dlib_face_recognition_resnet_model_v1.dat``.

    Args:
        data: the whole file.
        name: how error messages refer to it.

    Returns:
        The network, layers in input -> output order.

    Raises:
        DlibFormatError: the bytes are not this network (truncated, other architecture, ...).
    """
    r = ByteReader(data, name)
    expected = expected_layer_sequence()

    r.expect_int(1, "loss layer version")
    loss_name = r.read_string()
    if loss_name != "loss_metric_2":
        raise r._fail(f"expected loss 'loss_metric_2', got {loss_name!r}")
    margin = r.read_float()
    threshold = r.read_float()

    # Headers, output -> input: add_layer (2) for computing layers, 1 for tags and skips.
    for kind, _ in reversed(expected[1:]):
        r.expect_int(1 if kind in ("tag", "skip") else 2, f"version of a {kind} layer")
    r.expect_int(3, "version of the input-side layer")
    input_name = r.read_string()
    if input_name != "input_rgb_image_sized":
        raise r._fail(f"expected input 'input_rgb_image_sized', got {input_name!r}")
    mean = (r.read_float(), r.read_float(), r.read_float())
    size = (r.read_int(), r.read_int())

    # Details, input -> output.
    layers = [_read_details(r, expected[0])]
    _skip_layer_state(r)
    r.read_int()  # sample expansion factor of the input-side layer
    for kind, tag in expected[1:]:
        if kind in ("tag", "skip"):
            layers.append(DlibLayer(kind, {}, {"tag": tag}))
            continue
        layers.append(_read_details(r, (kind, tag)))
        _skip_layer_state(r)
    if not r.at_end():
        raise r._fail(f"{len(r.data) - r.pos} bytes left after the last layer")
    return DlibNetwork(
        input_mean=tuple(float(m) for m in mean),
        input_size=size,
        loss_margin=margin,
        loss_distance_threshold=threshold,
        layers=tuple(layers),
    )


def read_network(path: str | os.PathLike | None = None) -> DlibNetwork:
    """Reads the network file (by default the one of ``face-recognition-models``)."""
    file = Path(path) if path is not None else find_model_file()
    return parse_network(file.read_bytes(), str(file))
