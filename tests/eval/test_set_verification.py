"""Set-to-set verification on synthetic sets, with hand-computed set distances."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import set_verification as S
from facenet_tf.eval import verification as V
from facenet_tf.eval.pairs import VideoPair


def test_set_distances_hand_made():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 0.0]])
    # mean [0.5, 0.5] -> unit [r, r], r = 1/sqrt(2); |u - (1, 0)|^2 = 2 - 2r
    assert S.set_distances([a], [b])[0] == pytest.approx(2 - np.sqrt(2))
    # cross pairs: 0 and |(0,1) - (1,0)|^2 = 2 -> mean 1
    assert S.set_distances([a], [b], method="mean_pairwise")[0] == pytest.approx(1.0)
    assert S.set_distances([a], [b], method="mean_pairwise", distance="euclidean")[0] == (
        pytest.approx(np.sqrt(2) / 2)
    )
    assert S.set_distances([a], [b], first_n=1)[0] == pytest.approx(0.0)
    np.testing.assert_allclose(S.pool_set(a), [0.5, 0.5])
    np.testing.assert_allclose(S.pool_set(a, first_n=1), [1.0, 0.0])


def _videos(rng, n_ids=40, videos_per_id=2, frames=30, noise=1.6, dim=32):
    centres = rng.normal(size=(n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sets = {}
    for i in range(n_ids):
        for v in range(videos_per_id):
            frames_ = centres[i] + noise * rng.normal(size=(frames, dim)) / np.sqrt(dim)
            sets[f"id{i}/{v}"] = frames_ / np.linalg.norm(frames_, axis=1, keepdims=True)
    return sets


def _pairs(n_ids, n_folds=10):
    out = []
    for i in range(n_ids):
        fold = i % n_folds
        out.append(VideoPair(f"id{i}/0", f"id{i}/1", True, fold))
        out.append(VideoPair(f"id{i}/0", f"id{(i + 1) % n_ids}/1", False, fold))
    return out


def test_pooling_beats_single_frames_and_separates_synthetic_sets():
    rng = np.random.default_rng(0)
    sets = _videos(rng)
    plist = _pairs(40)
    pooled = S.evaluate_video_pairs(sets, plist, first_n=None)
    pairwise = S.evaluate_video_pairs(sets, plist, method="mean_pairwise", first_n=None)
    single = S.evaluate_video_pairs(sets, plist, first_n=1)
    assert pooled.accuracy_mean == 1.0 and pairwise.accuracy_mean == 1.0
    assert single.accuracy_mean < 0.95  # one noisy frame per video is not enough
    assert pooled.num_folds == 10 and pooled.num_pairs == 80


def test_set_verification_uses_the_kfold_protocol():
    rng = np.random.default_rng(1)
    sets = _videos(rng, n_ids=20)
    plist = _pairs(20)
    res = S.evaluate_video_pairs(sets, plist, first_n=5, far_target=0.1)
    d = S.set_distances([sets[p.video1] for p in plist], [sets[p.video2] for p in plist], first_n=5)
    ref = V.kfold_verification(d, [p.issame for p in plist], [p.fold for p in plist], 0.1)
    assert res.fold_accuracies == ref.fold_accuracies


def test_bad_sets_are_named():
    with pytest.raises(InvalidInputError, match="sets_b\\[0\\]"):
        S.set_distances([np.ones((2, 3))], [np.ones((0, 3))])
    with pytest.raises(InvalidInputError, match="no embeddings for 1 video"):
        S.evaluate_video_pairs({"a/0": np.ones((1, 3))}, [VideoPair("a/0", "b/0", False, 0)])
    with pytest.raises(InvalidInputError, match="method"):
        S.set_distances([np.ones((1, 3))], [np.ones((1, 3))], method="max")
