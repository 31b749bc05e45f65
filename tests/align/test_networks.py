"""Our Keras P/R/O-Nets against the mtcnn package's own networks, and .keras round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facenet_tf.align import mtcnn_networks as M

# Parameter counts by hand: conv k*k*cin*cout + cout, PReLU one alpha per channel
# (dense PReLU one per unit).
_PARAMS = {
    "pnet": (3 * 3 * 3 * 10 + 10 + 10) + (3 * 3 * 10 * 16 + 16 + 16) + (3 * 3 * 16 * 32 + 32 + 32)
    + (32 * 4 + 4) + (32 * 2 + 2),
    "rnet": (3 * 3 * 3 * 28 + 28 + 28) + (3 * 3 * 28 * 48 + 48 + 48) + (2 * 2 * 48 * 64 + 64 + 64)
    + (576 * 128 + 128 + 128) + (128 * 4 + 4) + (128 * 2 + 2),
    "onet": (3 * 3 * 3 * 32 + 32 + 32) + (3 * 3 * 32 * 64 + 64 + 64) + (3 * 3 * 64 * 64 + 64 + 64)
    + (2 * 2 * 64 * 128 + 128 + 128) + (1152 * 256 + 256 + 256) + (256 * 4 + 4)
    + (256 * 10 + 10) + (256 * 2 + 2),
}  # fmt: skip
_SHAPES = {"pnet": (2, 31, 45, 3), "rnet": (4, 24, 24, 3), "onet": (4, 48, 48, 3)}


@pytest.fixture(scope="module")
def ours():
    return M.load_mtcnn_networks()


@pytest.mark.parametrize("stage", M.STAGES)
def test_parameter_count(ours, stage):
    assert ours[stage].count_params() == _PARAMS[stage]


@pytest.mark.parametrize("stage", M.STAGES)
def test_matches_the_package_networks(ours, stage):
    """The package's subclassed models (with its Permute) are the reference."""
    network = pytest.importorskip(f"mtcnn.network.{stage}")
    from mtcnn.utils.tensorflow import load_weights

    ref = getattr(network, stage[0].upper() + "Net")()
    ref.build()
    ref.set_weights(load_weights(f"{stage}.lz4"))
    x = np.random.default_rng(0).uniform(0, 255, _SHAPES[stage]).astype(np.float32)
    want = ref((x - 127.5) / 128.0)
    got = ours[stage](x)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=2e-5)


def test_pnet_output_size(ours):
    reg, prob = ours["pnet"](np.zeros((1, 250, 250, 3), np.float32))
    # 250 -> conv 248 -> pool 124 -> conv 122 -> conv 120 (one cell per 2 px, 12 px window)
    assert reg.shape == (1, 120, 120, 4) and prob.shape == (1, 120, 120, 2)


def test_unpermute_by_hand():
    # A (W=2, H=3, C=1) flattening index w*3 + h must move to row h*2 + w.
    kernel = np.arange(6, dtype=np.float32)[:, None]  # row i holds value i
    out = M._unpermute_dense_kernel(kernel, (3, 2, 1))[:, 0]
    np.testing.assert_array_equal(out, [0, 3, 1, 4, 2, 5])


@pytest.mark.parametrize("stage", M.STAGES)
def test_keras_round_trip(ours, stage, tmp_path):
    path = tmp_path / f"{stage}.keras"
    ours[stage].save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, _SHAPES[stage]).astype(np.float32)
    for a, b in zip(ours[stage](x), loaded(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_missing_package_is_reported(monkeypatch):
    monkeypatch.setattr(M.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install"):
        M.mtcnn_weights_dir()
