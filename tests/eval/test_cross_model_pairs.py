"""Cross-model pair scoring (first image by one model, second by another) vs brute force."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval.evaluator import PairEvaluator
from facenet_tf.eval.pairs import Pair, PairList
from tests.data.synthetic import write_lfw_tree
from tests.reference import distances_reference as dref

NAMES = [f"Person_{c}" for c in "ABCDEFGHIJKL"]


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory) -> PairEvaluator:
    pairs = write_lfw_tree(tmp_path_factory.mktemp("lfw"), NAMES, size=8)
    return PairEvaluator(pairs, pairs.parent)


def _brute_best_accuracy(d, same) -> float:
    """Best accuracy over every threshold, by trying each distance and +-inf."""
    best = 0.0
    for t in [-np.inf, *d, np.inf]:
        best = max(best, float(np.mean((np.asarray(d) <= t) == np.asarray(same))))
    return best


def _vectors(evaluator, seed, dim=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(evaluator.keys), dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("distance", ["squared_l2", "euclidean", "cosine"])
def test_cross_model_distances_match_brute_force(evaluator, distance):
    evaluator = PairEvaluator(evaluator.pairs, evaluator.images_dir, distance=distance)
    a, b = _vectors(evaluator, 0), _vectors(evaluator, 1)
    position = {key: i for i, key in enumerate(evaluator.keys)}
    want = [
        dref.distance(a[position[(p.name1, p.index1)]], b[position[(p.name2, p.index2)]], distance)
        for p in evaluator.pairs.pairs
    ]
    np.testing.assert_allclose(evaluator.distances(a, b), want, rtol=1e-9, atol=1e-12)
    got = evaluator.score(a, b)
    same = np.array(evaluator.pairs.issame)
    assert got["accuracy"] == pytest.approx(_brute_best_accuracy(want, same))
    assert got["mean_distance_same"] == pytest.approx(np.mean(np.array(want)[same]))
    assert got["mean_distance_different"] == pytest.approx(np.mean(np.array(want)[~same]))


def test_same_model_on_both_sides_is_the_plain_score(evaluator):
    a = _vectors(evaluator, 2)
    assert evaluator.score(a, a.copy()) == evaluator.score(a)


def test_cross_model_pairs_use_each_model_for_one_side(evaluator):
    """Second model = first model + a shift: matched pairs separate only if the shift is
    applied to the second image, which shows the sides are not mixed up."""
    a = _vectors(evaluator, 3)
    b = a + np.array([1.0, 0, 0, 0, 0, 0])
    b /= np.linalg.norm(b, axis=1, keepdims=True)  # squared_l2 compares unit rows
    d = evaluator.distances(a, b)
    first = np.array([evaluator.keys.index((p.name1, p.index1)) for p in evaluator.pairs.pairs])
    second = np.array([evaluator.keys.index((p.name2, p.index2)) for p in evaluator.pairs.pairs])
    np.testing.assert_allclose(d, np.sum((a[first] - b[second]) ** 2, axis=1), rtol=1e-12)
    assert not np.allclose(d, evaluator.distances(b, a))


def test_kfold_cross_model(tmp_path):
    """Several folds: the k-fold protocol runs on the cross-model distances."""
    write_lfw_tree(tmp_path, NAMES, size=8)
    pairs = []
    for fold in range(2):
        names = NAMES[fold * 6 : fold * 6 + 6]
        pairs += [Pair(n, 1, n, 2, True, fold) for n in names[:3]]
        pairs += [Pair(names[i], 1, names[i + 3], 2, False, fold) for i in range(3)]
    evaluator = PairEvaluator(PairList(tuple(pairs), 2, 3), tmp_path)
    rng = np.random.default_rng(4)
    person = dict(zip(NAMES, np.eye(len(NAMES)), strict=True))  # people 2 apart
    a = np.array([person[name] + 0.01 * rng.normal(size=len(NAMES)) for name, _ in evaluator.keys])
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = a + 0.01 * rng.normal(size=a.shape)  # a second model close to the first
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    assert evaluator.kfold(a, b).accuracy_mean == 1.0
    assert evaluator.score(a, b)["accuracy_mean"] == 1.0
    flipped = evaluator.kfold(a, -b)  # an incompatible second model: chance level or worse
    assert flipped.accuracy_mean <= 0.75


def test_bad_second_model_vectors(evaluator):
    a = _vectors(evaluator, 5)
    with pytest.raises(InvalidInputError, match="second"):
        evaluator.distances(a, a[:-1])
    with pytest.raises(InvalidInputError, match="embeddings"):
        evaluator.score(a[:-1], a)
