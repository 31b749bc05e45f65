"""embed(): input handling, batching, tracing and errors, against a numpy reference model."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

import facenet_tf
from facenet_tf.inference import Embedder
from facenet_tf.layers import PixelNormalization

SIZE = 24
DIM = 8
RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, DIM)).astype(np.float32)


def _model() -> keras.Model:
    """Mean colour -> fixed linear map -> unit vector; easy to compute in numpy."""
    x = inp = keras.Input((SIZE, SIZE, 3))
    x = PixelNormalization(mean=0.0, scale=1.0 / 255.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(DIM, use_bias=False, name="embedding_dense")
    x = dense(x)
    out = keras.layers.UnitNormalization(name="embedding_l2")(x)
    model = keras.Model(inp, out, name="tiny_test_model")
    dense.set_weights([W])
    return model


def _reference(pixels_0_255: np.ndarray) -> np.ndarray:
    """numpy: the same computation as _model on [N, SIZE, SIZE, 3] float pixels."""
    mean = pixels_0_255.reshape(len(pixels_0_255), -1, 3).mean(1) / 255.0
    v = mean @ W
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(_model())


def _images(n: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


def test_batch_uint8_matches_numpy_reference(embedder):
    images = _images(5)
    out = facenet_tf.embed(images, model=embedder, aligned=True)
    assert out.dtype == np.float32 and out.shape == (5, DIM)
    np.testing.assert_allclose(out, _reference(images.astype(np.float32)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_single_image_and_list_and_float_inputs_agree(embedder):
    images = _images(3)
    batch = facenet_tf.embed(images, model=embedder, aligned=True)
    one = facenet_tf.embed(images[1], model=embedder, aligned=True)
    as_list = facenet_tf.embed(list(images), model=embedder, aligned=True)
    as_unit_float = facenet_tf.embed(
        images.astype(np.float32) / 255.0, model=embedder, aligned=True
    )
    as_255_float = facenet_tf.embed(images.astype(np.float64), model=embedder, aligned=True)
    np.testing.assert_allclose(one, batch[1:2], atol=1e-6)
    np.testing.assert_allclose(as_list, batch, atol=1e-6)
    np.testing.assert_allclose(as_unit_float, batch, atol=1e-5)
    np.testing.assert_allclose(as_255_float, batch, atol=1e-6)


def test_gray_and_rgba_are_converted(embedder):
    gray = RNG.integers(0, 256, size=(SIZE, SIZE), dtype=np.uint8)
    rgba = np.dstack([_images(1)[0], np.full((SIZE, SIZE), 7, np.uint8)])
    out = facenet_tf.embed([gray, gray[..., None], rgba], model=embedder, aligned=True)
    expected = _reference(
        np.stack([np.repeat(gray[..., None], 3, 2)] * 2 + [rgba[..., :3]]).astype(np.float32)
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_other_sizes_are_resized_with_opencv(embedder):
    big = RNG.integers(0, 256, size=(50, 40, 3), dtype=np.uint8)
    out = facenet_tf.embed([big], model=embedder, aligned=True)
    resized = cv2.resize(big.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(out, _reference(resized[None]), atol=1e-5)


def test_files_in_order(embedder, tmp_path):
    images = _images(3)
    paths = []
    for i, img in enumerate(images):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), img[..., ::-1])  # OpenCV writes BGR
        paths.append(p)
    out = facenet_tf.embed([str(paths[2]), paths[0], paths[1]], model=embedder, aligned=True)
    np.testing.assert_allclose(out, _reference(images[[2, 0, 1]].astype(np.float32)), atol=1e-5)


def test_forward_is_traced_once_across_batch_sizes():
    embedder = Embedder(_model())
    for n in (1, 3, 7, 2):
        facenet_tf.embed(_images(n), model=embedder, aligned=True, batch_size=4)
    assert embedder.tracing_count == 1


@pytest.mark.parametrize(
    "images, error, fragment",
    [
        ([], facenet_tf.InvalidInputError, "empty batch"),
        (np.zeros((0, SIZE, SIZE, 3), np.uint8), facenet_tf.InvalidInputError, "empty batch"),
        (np.zeros((1, 1, SIZE, SIZE, 3), np.uint8), facenet_tf.InvalidInputError, "shape"),
        (
            [np.zeros((SIZE, SIZE, 2), np.uint8)],
            facenet_tf.InvalidInputError,
            "images[0]: 2 channels",
        ),
        ([np.zeros((SIZE, SIZE, 3)), np.full((SIZE, SIZE, 3), np.nan)], ValueError, "images[1]"),
        ([np.zeros((SIZE, SIZE, 3), bool)], TypeError, "images[0]: unsupported dtype bool"),
        ([np.full((SIZE, SIZE, 3), 300.0)], ValueError, "images[0]: float pixel values"),
        ([np.zeros((SIZE, SIZE, 3), np.int32) - 1], ValueError, "images[0]: integer pixel"),
        ([np.zeros((SIZE, SIZE, 3), np.uint8), 5], TypeError, "images[1]"),
        (12, TypeError, "images"),
    ],
)
def test_bad_input_raises_typed_error_naming_item(embedder, images, error, fragment):
    with pytest.raises(error) as info:
        facenet_tf.embed(images, model=embedder, aligned=True)
    assert fragment in str(info.value)


def test_missing_empty_and_non_image_files_are_named(embedder, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for bad, fragment in [
        (tmp_path / "missing.jpg", "no such file"),
        (empty, "empty"),
        (text, "not"),
    ]:
        with pytest.raises(facenet_tf.ImageReadError) as info:
            facenet_tf.embed([bad], model=embedder, aligned=True)
        assert str(bad) in str(info.value) and fragment in str(info.value)


def test_bad_batch_size(embedder):
    with pytest.raises(ValueError, match="batch_size"):
        facenet_tf.embed(_images(1), model=embedder, aligned=True, batch_size=0)


def test_distance_is_squared_l2():
    a = RNG.normal(size=(4, 6))
    b = RNG.normal(size=(4, 6))
    expected = [sum((a[i, j] - b[i, j]) ** 2 for j in range(6)) for i in range(4)]
    np.testing.assert_allclose(facenet_tf.distance(a, b), expected, rtol=1e-5)
    np.testing.assert_allclose(facenet_tf.distance(a[0], b[0]), expected[0], rtol=1e-5)
    with pytest.raises(ValueError, match="sizes differ"):
        facenet_tf.distance(a, b[:, :3])


def test_load_model_round_trips_a_keras_file(tmp_path):
    model = _model()
    path = tmp_path / "m.keras"
    model.save(path)
    images = _images(2)
    out = facenet_tf.embed(images, model=str(path), aligned=True)
    np.testing.assert_allclose(out, _reference(images.astype(np.float32)), atol=1e-5)
    with pytest.raises(facenet_tf.ModelNotFoundError):
        facenet_tf.load_model(tmp_path / "absent.keras")
    with pytest.raises(facenet_tf.ModelNotFoundError, match="unknown model"):
        facenet_tf.load_model("no_such_model")
