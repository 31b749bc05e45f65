"""Embedding cache: hits on re-run, misses on changed content or model."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.eval.cache import EmbeddingCache, content_hash


class CountingEmbed:
    """Embeds a file as [first byte, length]; counts the items it was asked for."""

    def __init__(self):
        self.seen = []

    def __call__(self, items):
        self.seen.extend(str(x) for x in items)
        rows = []
        for x in items:
            data = open(x, "rb").read()
            rows.append([data[0], len(data)])
        return np.asarray(rows, np.float32), np.asarray([len(str(x)) % 2 == 0 for x in items])


@pytest.fixture
def files(tmp_path):
    out = []
    for i, content in enumerate([b"abc", b"xyz1", b"abc", b"q"]):
        p = tmp_path / f"img{i}.bin"
        p.write_bytes(content)
        out.append(p)
    return out


def test_cache_hit_on_rerun(tmp_path, files):
    fn = CountingEmbed()
    cache = EmbeddingCache(tmp_path / "c", "model-a")
    emb, flags = cache.embed(files, fn, batch_size=2)
    np.testing.assert_array_equal(emb, [[97, 3], [120, 4], [97, 3], [113, 1]])
    assert len(fn.seen) == 3  # img0 and img2 have the same bytes: embedded once
    assert (cache.hits, cache.misses) == (0, 3)  # nothing was cached; 3 distinct computed
    fn2 = CountingEmbed()
    again = EmbeddingCache(tmp_path / "c", "model-a")  # a new process would do this
    emb2, flags2 = again.embed(files, fn2)
    assert fn2.seen == [] and (again.hits, again.misses) == (4, 0)
    np.testing.assert_array_equal(emb2, emb)
    np.testing.assert_array_equal(flags2, flags)


def test_changed_content_or_model_misses(tmp_path, files):
    EmbeddingCache(tmp_path / "c", "model-a").embed(files, CountingEmbed())
    files[1].write_bytes(b"new!!")
    fn = CountingEmbed()
    emb, _ = EmbeddingCache(tmp_path / "c", "model-a").embed(files, fn)
    assert fn.seen == [str(files[1])] and emb[1].tolist() == [110, 5]
    fn_b = CountingEmbed()
    EmbeddingCache(tmp_path / "c", "model-b").embed(files, fn_b)
    assert len(fn_b.seen) == 3


def test_content_hash_of_arrays_sees_dtype_and_shape():
    a = np.zeros((2, 3), np.uint8)
    assert content_hash(a) == content_hash(a.copy())
    assert content_hash(a) != content_hash(a.reshape(3, 2))
    assert content_hash(a) != content_hash(a.astype(np.float32))
