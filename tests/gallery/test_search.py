"""Gallery search against a brute-force numpy k-NN; approximate kinds' recall; identify."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.errors import GalleryError, InvalidInputError
from facenet_tf.gallery import Gallery, indexes
from tests.gallery.conftest import clustered, knn_reference

# Stored vectors are the inputs re-normalised and rounded to float32: each moves by at
# most 2 ulp(1) = 2**-22, so a squared distance |a - b|^2 (|a - b| <= 2) moves by at most
# 2 * 2 * (2 * 2**-22) = 2**-19; the distances themselves are float64 (distances.py).
DISTANCE_ATOL = 2.0**-19


@pytest.fixture(scope="module")
def data():
    x, who = clustered(2000, seed=1)
    q, _ = clustered(40, seed=2)
    return x, [f"id{w}" for w in who], q


def test_flat_search_equals_brute_force(tmp_path, data):
    x, labels, q = data
    with Gallery.create(tmp_path / "g", index="flat") as g:
        ids = g.add(x, labels)
        result = g.search(q, k=7)
    order, ref_d = knn_reference(q, x, 7)
    np.testing.assert_array_equal(result.ids, ids[order])
    np.testing.assert_allclose(result.distances, ref_d, rtol=0, atol=DISTANCE_ATOL)
    assert result.labels.tolist() == [[labels[j] for j in row] for row in order]
    # An exact copy of a stored face is at distance exactly 0 and comes first.
    again = g.search(x[:3], k=1)
    assert again.ids[:, 0].tolist() == ids[:3].tolist()
    assert again.distances[:, 0].tolist() == [0.0, 0.0, 0.0]


def test_search_after_remove_and_reopen_equals_brute_force(tmp_path, data):
    x, labels, q = data
    with Gallery.create(tmp_path / "g", index="flat") as g:
        ids = g.add(x, labels)
        gone = ids[::3]
        assert g.remove(gone) == len(gone)
    g = Gallery.open(tmp_path / "g", readonly=True)
    keep = np.setdiff1d(np.arange(len(x)), np.arange(len(x))[::3])
    order, ref_d = knn_reference(q, x[keep], 5)
    result = g.search(q, k=5)
    np.testing.assert_array_equal(result.ids, ids[keep][order])
    np.testing.assert_allclose(result.distances, ref_d, rtol=0, atol=DISTANCE_ATOL)


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)])
    )


# Bounds set below what these kinds reach on this data at their default settings
# (docs/gallery.md gives the measured values at larger sizes).
@pytest.mark.parametrize(
    "kind,recall10",
    [("sq8", 0.9), ("ivf_flat", 0.85), ("ivf_sq8", 0.85), ("hnsw", 0.9)],
)
def test_approximate_kinds_recall_against_exact(tmp_path, kind, recall10):
    x, who = clustered(6100, seed=3)
    x, who, q = x[:6000], who[:6000], x[6000:]  # queries: other faces of the same people
    with Gallery.create(tmp_path / kind, index=kind) as g:
        ids = g.add(x, [f"id{w}" for w in who])
        # Kinds that need training stage their vectors flat until a save has enough.
        assert g.index_kind == ("flat" if kind in indexes.TRAINED_KINDS else kind)
    g = Gallery.open(tmp_path / kind, readonly=True)
    assert g.index_kind == kind
    exact, _ = knn_reference(q, x, 10)
    result = g.search(q, k=10)
    assert _recall(result.ids, ids[exact]) >= recall10
    assert _recall(result.ids[:, :1], ids[exact[:, :1]]) >= recall10


def test_sq8_distance_error_within_the_quantisation_step(tmp_path):
    x, who = clustered(2020, seed=5)
    x, who, q = x[:2000], who[:2000], x[2000:]
    with Gallery.create(tmp_path / "g", index="sq8") as g:
        ids = g.add(x, [str(w) for w in who])
    g = Gallery.open(tmp_path / "g", readonly=True)
    assert g.index_kind == "sq8"
    result = g.search(q, k=5)
    pos = np.searchsorted(ids, result.ids)
    exact = ((q[:, None, :].astype(np.float64) - x[pos].astype(np.float64)) ** 2).sum(-1)
    # 8 bits over each dimension's trained range [min, max]: a component is off by at
    # most one step (max - min) / 255, so |delta| <= sqrt(sum step^2) and the squared
    # distance moves by at most 2 |q - b| |delta| + |delta|^2 with |q - b| <= 2.
    step = (x.max(0) - x.min(0)).astype(np.float64) / 255
    delta = np.sqrt(np.sum(step**2))
    assert np.abs(result.distances - exact).max() <= 4 * delta + delta**2
    assert np.abs(g.vectors(ids[:50]) - x[:50]).max() <= step.max()


def test_ivf_retrains_when_grown(tmp_path):
    x, who = clustered(indexes.IVF_TRAIN_MIN * 5, seed=7)
    labels = [str(w) for w in who]
    n0 = indexes.IVF_TRAIN_MIN
    with Gallery.create(tmp_path / "g", index="ivf_flat") as g:
        g.add(x[:n0], labels[:n0])
    with Gallery.open(tmp_path / "g") as g:
        assert g.info()["index"]["trained_count"] == n0
        g.add(x[n0 : 3 * n0], labels[n0 : 3 * n0])
        g.save()
        assert g.info()["index"]["trained_count"] == n0  # grown 3x: not yet
        g.add(x[3 * n0 :], labels[3 * n0 :])
    g = Gallery.open(tmp_path / "g", readonly=True)
    assert g.info()["index"]["trained_count"] == len(x)
    g.nprobe = 10_000  # every list: exact
    exact, _ = knn_reference(x[:20], x, 3)
    np.testing.assert_array_equal(g.search(x[:20], k=3).ids, g.ids[exact])


@pytest.mark.parametrize("kind", indexes.KINDS)
def test_remove_works_for_every_kind(tmp_path, kind):
    x, who = clustered(1500, seed=8)
    with Gallery.create(tmp_path / kind, index=kind) as g:
        ids = g.add(x, [str(w) for w in who])
    with Gallery.open(tmp_path / kind) as g:
        assert g.index_kind == kind
        g.remove(ids[:500])
        g.nprobe = 10_000
        g.ef_search = 2_000
        assert len(g) == 1000 and not np.isin(g.search(x[:500], k=10).ids, ids[:500]).any()
    g = Gallery.open(tmp_path / kind, readonly=True)
    assert g.ids.tolist() == ids[500:].tolist()
    assert not np.isin(g.search(x, k=5).ids, ids[:500]).any()


def test_identify_threshold_and_unknown(tmp_path, data):
    x, labels, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    g.add(x[:100], labels[:100])
    far_away = -x[:1]  # distance 4 from its own row, > 2 from most
    out = g.identify(np.concatenate([x[5:6], far_away]), threshold=0.5)
    assert out == [labels[5], None]
    with pytest.raises(InvalidInputError, match="not both"):
        g.identify(x[:1], far=1e-3, threshold=0.5)


def test_identify_default_threshold_is_the_models(tmp_path, data, monkeypatch):
    import facenet_tf
    from facenet_tf.gallery import gallery as gallery_module

    x, labels, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    g.add(x[:10], labels[:10])
    assert g.threshold() == facenet_tf.default_threshold(g.model_name)
    # far= is wired to facenet_tf.thresholds.far_threshold(model_name, far).
    seen = []

    class FakeThresholds:
        @staticmethod
        def far_threshold(model_name, far):
            seen.append((model_name, far))
            return 0.0

    monkeypatch.setitem(__import__("sys").modules, "facenet_tf.thresholds", FakeThresholds)
    monkeypatch.setattr(facenet_tf, "thresholds", FakeThresholds, raising=False)
    assert gallery_module is not None
    assert g.identify(x[:1], far=1e-3) == [labels[0]]  # distance 0 <= 0.0
    assert g.identify(x[:1] * 0 + x[1:2], far=1e-3) == [labels[1]]
    assert seen == [(g.model_name, 1e-3)] * 2


def test_bad_inputs(tmp_path, data):
    x, labels, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    with pytest.raises(InvalidInputError, match="empty"):
        g.search(x[:1])
    with pytest.raises(InvalidInputError, match="labels"):
        g.add(x[:3], ["a", "b"])
    with pytest.raises(InvalidInputError, match="not unit vectors"):
        g.add(x[:3] * 2, "a")
    with pytest.raises(InvalidInputError, match="index must be"):
        Gallery.create(tmp_path / "h", index="ivf")
    g.add(x[:3], "a")
    with pytest.raises(InvalidInputError, match="not in the gallery"):
        g.remove([0, 99])
    assert len(g) == 3
    with pytest.raises(GalleryError, match="already holds"):
        Gallery.create(tmp_path / "g")


def test_identify_refuses_a_nan_or_negative_threshold(tmp_path, data):
    # Such a threshold made every query "unknown", even one equal to a gallery face.
    x, labels, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    g.add(x[:5], labels[:5])
    for bad in (float("nan"), -1.0):
        with pytest.raises(InvalidInputError, match="threshold must be"):
            g.identify(x[:1], threshold=bad)
    assert g.identify(x[:1], threshold=1e-6) == [labels[0]]


def test_ids_that_are_not_whole_numbers_are_refused(tmp_path, data):
    # A cast to int64 would remove id 2 for 2.7 and id 1 for True.
    x, _, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    g.add(x[:4], "a")
    for bad in ([2.7], [True], np.array([1.5, 2.0])):
        with pytest.raises(InvalidInputError, match="expected integers"):
            g.remove(bad)
        with pytest.raises(InvalidInputError, match="expected integers"):
            g.vectors(bad)
    assert list(g.ids) == [0, 1, 2, 3]
    assert g.remove(np.array([2.0])) == 1  # whole floats (e.g. from a CSV) are ids
    assert g.remove([]) == 0
    assert list(g.ids) == [0, 1, 3]


def test_identify_far_uses_the_calibrated_threshold(tmp_path, data):
    from facenet_tf import thresholds

    x, labels, _ = data
    g = Gallery.create(tmp_path / "g", index="flat")
    points = thresholds.operating_points(g.model_name)
    if not points:
        pytest.skip(f"no FAR calibration for {g.model_name}")
    assert g.threshold(points[0].far) == points[0].threshold
    with pytest.raises(InvalidInputError, match="not calibrated"):
        g.threshold(0.123456)


def test_auto_is_exact_below_the_crossover_then_approximate(tmp_path, monkeypatch):
    # The crossover itself (100,000) is measured by benchmarks/gallery_search.py; a
    # smaller one here exercises the same conversion path in seconds.
    monkeypatch.setattr(indexes, "AUTO_CROSSOVER", 3_000)
    x, who = clustered(4_040, seed=11)
    x, who, q = x[:4_000], who[:4_000], x[4_000:]
    labels = [str(w) for w in who]
    with Gallery.create(tmp_path / "g", index="auto") as g:
        g.add(x[:2_999], labels[:2_999])
    g = Gallery.open(tmp_path / "g")
    assert g.index_kind == "flat"
    exact, _ = knn_reference(q, x[:2_999], 10)
    np.testing.assert_array_equal(g.search(q, k=10).ids, g.ids[exact])
    g.add(x[2_999:], labels[2_999:])
    g.save()
    g.close()
    g = Gallery.open(tmp_path / "g", readonly=True)
    assert g.index_requested == "auto" and g.index_kind == indexes.AUTO_APPROXIMATE
    exact, _ = knn_reference(q, x, 10)
    assert _recall(g.search(q, k=10).ids, g.ids[exact]) >= 0.85
