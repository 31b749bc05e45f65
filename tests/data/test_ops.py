"""The dict -> dict ops: hand-derived values, and the same result eagerly and in Dataset.map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.data import ops
from facenet_tf.errors import InvalidInputError

SEED = np.array([7, 11], np.int64)


def _example(h=20, w=16, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32)
    return {"image": tf.constant(image), "seed": tf.constant(SEED), "label": tf.constant(3)}


def _in_dataset(op, data):
    ds = tf.data.Dataset.from_tensors(data).map(op)
    return next(iter(ds))


RANDOM_OPS = {
    "random_crop_and_resize": lambda: ops.random_crop_and_resize((12, 10), (0.1, 0.1, 0.9, 0.9)),
    "random_flip": lambda: ops.random_flip(),
    "random_brightness": lambda: ops.random_brightness(30.0),
    "random_contrast": lambda: ops.random_contrast(0.5, 1.5),
    "random_jpeg_quality": lambda: ops.random_jpeg_quality(20, 90, prob=1.0),
}
ALL_OPS = {
    **RANDOM_OPS,
    "crop_and_resize": lambda: ops.crop_and_resize((8, 8), (0.2, 0.1, 0.8, 0.7)),
    "clip_pixels": lambda: ops.clip_pixels(),
    "compose": lambda: ops.compose(ops.random_flip(), ops.random_brightness(), ops.clip_pixels()),
}


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_eager_equals_dataset_map(name):
    op = ALL_OPS[name]()
    data = _example()
    eager = op(data)
    mapped = _in_dataset(op, data)
    assert set(eager) == set(mapped) == {"image", "seed", "label"}
    np.testing.assert_array_equal(eager["image"].numpy(), mapped["image"].numpy())
    assert eager["image"].dtype == tf.float32
    # Static shapes survive graph mode (TPU input pipelines need them).
    ds = tf.data.Dataset.from_tensors(data).map(op)
    assert ds.element_spec["image"].shape.is_fully_defined()


@pytest.mark.parametrize("name", sorted(RANDOM_OPS))
def test_random_ops_depend_only_on_the_seed(name):
    op = RANDOM_OPS[name]()
    outs = []
    for s in ([7, 11], [7, 11], [8, 11], [7, 12], [9, 1], [2, 5]):
        data = {**_example(), "seed": tf.constant(s, tf.int64)}
        outs.append(op(data)["image"].numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    # Different seeds give different results (flip: at least one of several differs).
    assert any(not np.array_equal(outs[0], o) for o in outs[2:])


def test_decode_png_is_lossless():
    rgb = np.random.default_rng(1).integers(0, 256, size=(9, 7, 3)).astype(np.uint8)
    ok, png = cv2.imencode(".png", rgb[..., ::-1])
    assert ok
    out = ops.decode()({"encoded": tf.constant(png.tobytes()), "seed": tf.constant(SEED)})
    assert "encoded" not in out
    assert out["image"].dtype == tf.uint8
    np.testing.assert_array_equal(out["image"].numpy(), rgb)


def test_crop_and_resize_samples_pixel_centres():
    # 5x5 ramp v = 10 r + c. Box (0, 0, 0.5, 0.5) at 3x3 samples rows/cols 0, 1, 2
    # exactly (coordinates y1 (H - 1) + i (y2 - y1) (H - 1) / (3 - 1)).
    r, c = np.mgrid[0:5, 0:5]
    ramp = (10 * r + c).astype(np.float32)
    image = np.repeat(ramp[..., None], 3, axis=2)
    out = ops.crop_and_resize((3, 3), (0.0, 0.0, 0.5, 0.5))({"image": tf.constant(image)})
    np.testing.assert_allclose(out["image"].numpy()[..., 0], ramp[:3, :3], atol=1e-5)
    # The full box at the original size is the identity.
    full = ops.crop_and_resize((5, 5))({"image": tf.constant(image)})
    np.testing.assert_allclose(full["image"].numpy(), image, atol=1e-5)


def test_random_crop_stays_inside_the_box():
    # Left half 0, right half 255: a crop inside the left half's box must be all 0.
    image = np.zeros((20, 20, 3), np.float32)
    image[:, 10:] = 255.0
    op = ops.random_crop_and_resize((6, 6), (0.0, 0.0, 1.0, 0.45), scale=(0.5, 1.0))
    for s in range(5):
        out = op({"image": tf.constant(image), "seed": tf.constant([s, 0], tf.int64)})
        assert float(tf.reduce_max(out["image"])) == 0.0


def test_flip_prob_one_and_zero():
    data = _example()
    flipped = ops.random_flip(prob=1.0)(data)["image"].numpy()
    np.testing.assert_array_equal(flipped, data["image"].numpy()[:, ::-1])
    same = ops.random_flip(prob=0.0)(data)["image"].numpy()
    np.testing.assert_array_equal(same, data["image"].numpy())


def test_brightness_adds_one_bounded_offset():
    data = _example()
    out = ops.random_brightness(25.0)(data)["image"].numpy()
    delta = out - data["image"].numpy()
    assert np.ptp(delta) < 1e-3
    assert 0 < abs(delta.flat[0]) <= 25.0


def test_contrast_keeps_channel_means_and_scales_deviations():
    data = _example()
    x = data["image"].numpy().astype(np.float64)
    y = ops.random_contrast(0.5, 1.5)(data)["image"].numpy().astype(np.float64)
    mean = x.mean(axis=(0, 1))
    np.testing.assert_allclose(y.mean(axis=(0, 1)), mean, rtol=1e-5)
    factor = (y - mean) / (x - mean)
    assert np.ptp(factor) < 1e-3 and 0.5 <= factor.flat[0] <= 1.5


def test_jpeg_reencoding_is_close_but_lossy_and_prob_zero_is_identity():
    # Smooth content, as faces are: JPEG keeps it close.
    yy, xx = np.mgrid[0:32, 0:32]
    image = np.stack([yy * 8, xx * 8, (yy + xx) * 4], axis=-1).astype(np.float32)
    data = {"image": tf.constant(image), "seed": tf.constant(SEED)}
    out = ops.random_jpeg_quality(50, 60, prob=1.0)(data)["image"].numpy()
    assert out.shape == image.shape
    assert not np.array_equal(out, image)
    assert np.abs(out - image).mean() < 6.0
    same = ops.random_jpeg_quality(prob=0.0)(data)["image"].numpy()
    np.testing.assert_array_equal(same, image)


def test_clip_pixels():
    data = {"image": tf.constant([[[-5.0, 100.0, 300.0]]])}
    np.testing.assert_array_equal(ops.clip_pixels()(data)["image"].numpy(), [[[0, 100, 255]]])


def test_fold_seed_is_order_sensitive():
    a = ops.fold_seed(tf.constant(SEED), 1, 2).numpy()
    b = ops.fold_seed(tf.constant(SEED), 2, 1).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, ops.fold_seed(tf.constant(SEED), 1, 2).numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda: ops.crop_and_resize((8, 8), (0.5, 0.0, 0.4, 1.0)),
        lambda: ops.crop_and_resize((0, 8)),
        lambda: ops.random_crop_and_resize((8, 8), scale=(0.0, 1.0)),
        lambda: ops.random_contrast(1.5, 0.5),
        lambda: ops.random_jpeg_quality(90, 20),
    ],
)
def test_bad_arguments_raise_typed_errors(make):
    with pytest.raises(InvalidInputError):
        make()
