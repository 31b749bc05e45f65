"""Gallery files: round trips, atomic saves under SIGKILL, damage, locks, model checks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from facenet_tf.errors import GalleryError
from facenet_tf.gallery import Gallery
from facenet_tf.gallery.storage import MANIFEST
from tests.conftest import REPO_ROOT
from tests.gallery.conftest import BATCH, _batch, clustered

# A writer that adds a batch and saves, over and over, printing each completed save.
# It adds vectors, which loads no model and no TensorFlow (a quick start).
WRITER = f"""
import sys
sys.path.insert(0, {str(REPO_ROOT)!r})
from facenet_tf.gallery import Gallery
from tests.gallery.conftest import _batch, BATCH
g = Gallery.open(sys.argv[1])
b = len(g) // BATCH
while True:
    g.add(_batch(b), [f"b{{b}}"] * BATCH)
    g.save()
    print(len(g), flush=True)
    b += 1
"""


@pytest.fixture()
def gallery_dir(tmp_path):
    path = tmp_path / "g"
    with Gallery.create(path, index="flat") as g:
        g.add(_batch(0), "b0")
    return path


def _start_writer(path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )


def _check_state(path, at_least: int) -> int:
    """Opens the gallery; it must hold whole batches, at least ``at_least`` faces, with
    the exact vectors and labels written."""
    g = Gallery.open(path, readonly=True)
    n = len(g)
    assert n % BATCH == 0 and n >= at_least
    ids = g.ids
    for b in range(n // BATCH):
        chunk = ids[b * BATCH : (b + 1) * BATCH]
        np.testing.assert_array_equal(g.vectors(chunk[:50]), _batch(b)[:50])
    assert g.labels[-1] == f"b{n // BATCH - 1}"
    return n


def test_round_trip(tmp_path):
    x, who = clustered(300, seed=1)
    path = tmp_path / "g"
    with Gallery.create(path, index="flat") as g:
        ids = g.add(x[:200], [str(w) for w in who[:200]], [f"f{i}.jpg" for i in range(200)])
        g.remove(ids[:10])
    with Gallery.open(path) as g:
        assert len(g) == 190 and g.ids.tolist() == ids[10:].tolist()
        assert g.sources[0] == "f10.jpg" and g.labels[0] == str(who[10])
        more = g.add(x[200:], "new")
        assert more[0] == 200  # ids are never reused
    g = Gallery.open(path, readonly=True)
    assert len(g) == 290 and g.find(label="new").tolist() == more.tolist()
    np.testing.assert_array_equal(g.vectors(more), x[200:])
    with pytest.raises(GalleryError, match="read-only"):
        g.add(x[:1], "a")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["count"] == 290 and manifest["model"] == g.model_name
    assert sorted(os.listdir(path)) == sorted(
        [MANIFEST, "writer.lock", manifest["files"]["index"]["name"],
         manifest["files"]["table"]["name"]]
    )  # fmt: skip


def test_exception_in_with_block_does_not_save(tmp_path):
    path = tmp_path / "g"
    Gallery.create(path).close()
    with pytest.raises(RuntimeError), Gallery.open(path) as g:
        g.add(clustered(3)[0], "x")
        raise RuntimeError
    assert len(Gallery.open(path, readonly=True)) == 0


def test_sigkill_during_save_leaves_a_complete_gallery(gallery_dir):
    rng = random.Random(0)
    saved = BATCH
    deadline = time.monotonic() + 30
    for _ in range(6):
        if time.monotonic() > deadline:
            break
        writer = _start_writer(gallery_dir)
        # Let it complete a few saves, then kill it at a random moment of the next ones.
        lines = [writer.stdout.readline() for _ in range(rng.randint(1, 2))]
        time.sleep(rng.uniform(0.0, 0.25))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        rest = writer.stdout.read().split()
        done = [int(x) for x in [*lines, *rest] if str(x).strip()]
        saved = _check_state(gallery_dir, at_least=max(done + [saved]))
    assert saved > BATCH


def test_reader_sees_complete_generations_while_a_writer_saves(gallery_dir):
    writer = _start_writer(gallery_dir)
    try:
        writer.stdout.readline()
        with pytest.raises(GalleryError, match="open for writing"):
            Gallery.open(gallery_dir)
        seen = set()
        end = time.monotonic() + 4
        while time.monotonic() < end:
            seen.add(_check_state(gallery_dir, at_least=BATCH))
    finally:
        writer.kill()
        writer.wait()
    assert len(seen) >= 2  # the reader saw more than one generation, each complete


def _damage(path, role: str, how: str) -> str:
    manifest = json.loads((path / MANIFEST).read_text())
    name = manifest["files"][role]["name"]
    data = (path / name).read_bytes()
    if how == "truncate":
        (path / name).write_bytes(data[: len(data) // 2])
    elif how == "flip":
        i = len(data) // 2
        (path / name).write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    else:  # garbage whose size and sha256 the manifest agrees with: the parser must refuse
        import hashlib

        junk = b"not a gallery file " * 50
        (path / name).write_bytes(junk)
        manifest["files"][role].update(bytes=len(junk), sha256=hashlib.sha256(junk).hexdigest())
        (path / MANIFEST).write_text(json.dumps(manifest))
    return name


@pytest.mark.parametrize("role", ["index", "table"])
@pytest.mark.parametrize("how", ["truncate", "flip", "unparsable"])
def test_damaged_file_names_the_file(tmp_path, role, how):
    path = tmp_path / "g"
    with Gallery.create(path, index="flat") as g:
        g.add(clustered(50)[0], "a")
    name = _damage(path, role, how)
    with pytest.raises(GalleryError, match=name.replace(".", r"\.")):
        Gallery.open(path, readonly=True)


@pytest.mark.parametrize("text", ["", '{"format": "facenet_tf.gallery"', "[]", "{}"])
def test_damaged_manifest_names_it(tmp_path, text):
    path = tmp_path / "g"
    Gallery.create(path).close()
    (path / MANIFEST).write_text(text)
    with pytest.raises(GalleryError, match=MANIFEST):
        Gallery.open(path, readonly=True)


def test_missing_gallery(tmp_path):
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GalleryError, match="not a gallery"):
        Gallery.open(tmp_path / "empty", readonly=True)


def _model(name: str, dim: int):
    import keras

    inp = keras.Input((24, 24, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    x = keras.layers.Dense(dim)(x)
    return keras.Model(inp, keras.layers.UnitNormalization()(x), name=name)


def test_model_mismatch_is_refused(tmp_path):
    path = tmp_path / "g"
    Gallery.create(path).close()  # the default model, 128-D
    for model, what in [(_model("other_model", 128), "other_model"), (_model("tiny", 8), "8-D")]:
        with pytest.raises(GalleryError, match=what):
            Gallery.open(path, readonly=True, model=model)
    custom = tmp_path / "c"
    Gallery.create(custom, model=_model("mine", 16)).close()
    g = Gallery.open(custom, readonly=True, model=_model("mine", 16))
    assert g.model_name == "mine" and g.embedding_dim == 16


def test_second_writer_refused_in_process(tmp_path):
    path = tmp_path / "g"
    g = Gallery.create(path)
    with pytest.raises(GalleryError, match="open for writing"):
        Gallery.open(path)
    assert len(Gallery.open(path, readonly=True)) == 0
    g.close()
    Gallery.open(path).close()


VECTORS_ONLY = f"""
import sys
sys.path.insert(0, {str(REPO_ROOT)!r})
import numpy as np
import facenet_tf
from tests.gallery.conftest import _batch
g = facenet_tf.Gallery.open(sys.argv[1])
g.add(_batch(7)[:10], "new")
g.save()
found = g.search(_batch(7)[:3], k=2)
assert list(found.labels[:, 0]) == ["new"] * 3, found.labels
assert g.identify(_batch(7)[:2]) == ["new", "new"]
assert "tensorflow" not in sys.modules, "vectors in, vectors out: no model needed"
print("ok")
"""


def test_vectors_in_and_out_load_no_model(gallery_dir):
    # A gallery fed by embeddings files (bulk-embed, facenet-tf embed) never pays for
    # TensorFlow or the model: vectors are told from photos by the one NumPy rule.
    out = subprocess.run(
        [sys.executable, "-c", VECTORS_ONLY, str(gallery_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_failed_create_releases_the_lock(tmp_path, monkeypatch):
    from facenet_tf.gallery import generation

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    path = tmp_path / "g"
    with monkeypatch.context() as m:
        m.setattr(generation, "write", disk_full)
        with pytest.raises(OSError, match="No space") as failed:
            Gallery.create(path)
        # The failed create must not keep the folder locked while the error (and with it
        # the half-made gallery in its traceback) is still held, e.g. by a caller's log.
        m.undo()
        Gallery.create(path).close()
        assert failed.value.errno == 28
    assert len(Gallery.open(path, readonly=True)) == 0


def test_create_rechecks_for_a_gallery_under_the_lock(tmp_path, monkeypatch):
    # Another process finishes creating a gallery in the folder between this create's
    # first look and its taking the lock: its faces must not be overwritten.
    from facenet_tf.gallery import storage

    path = tmp_path / "g"
    with Gallery.create(path, index="flat") as g:
        g.add(_batch(0)[:5], "theirs")
    real_exists = type(path).exists
    looks = []

    def exists_once_false(p):
        if p.name == MANIFEST and not looks:
            looks.append(p)
            return False
        return real_exists(p)

    monkeypatch.setattr(type(path), "exists", exists_once_false)
    with pytest.raises(GalleryError, match="already holds a gallery"):
        Gallery.create(path)
    monkeypatch.undo()
    assert len(Gallery.open(path, readonly=True)) == 5
    Gallery.open(path).close()  # and the lock was released
    assert storage.MANIFEST == MANIFEST
