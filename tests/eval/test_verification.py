"""The k-fold verification protocol, VAL at FAR, ROC/AUC/EER against hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.distances import pair_distances
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import verification as V


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _lfw_like_folds(n_folds=10, per_fold=300):
    issame = np.tile(np.r_[np.ones(per_fold, bool), np.zeros(per_fold, bool)], n_folds)
    folds = np.repeat(np.arange(n_folds), 2 * per_fold)
    return issame, folds


def test_perfectly_separable_embeddings_score_100_percent():
    rng = np.random.default_rng(0)
    issame, folds = _lfw_like_folds()
    a = _unit(rng.normal(size=(issame.size, 128)))
    other = _unit(rng.normal(size=a.shape))  # different pairs: distances near 2, never < 1
    b = np.where(issame[:, None], a + 0.01 * rng.normal(size=a.shape), other)
    res = V.kfold_verification(pair_distances(a, b), issame, folds)
    assert res.accuracy_mean == 1.0 and res.accuracy_std == 0.0
    # the FAR threshold sits just below the training folds' 3rd-closest different pair, so
    # a held-out different pair is accepted with probability ~ 2/2700: FAR near 1e-3 is
    # the operating point, VAL is perfect
    assert res.val_mean == 1.0 and res.far_mean < 3e-3
    assert res.auc == 1.0 and res.eer == 0.0
    assert res.num_folds == 10 and res.num_pairs == 6000


def test_random_embeddings_score_about_50_percent():
    rng = np.random.default_rng(1)
    issame, folds = _lfw_like_folds()
    a, b = (_unit(rng.normal(size=(issame.size, 128))) for _ in range(2))
    res = V.kfold_verification(pair_distances(a, b), issame, folds)
    assert abs(res.accuracy_mean - 0.5) < 0.03
    assert abs(res.auc - 0.5) < 0.03 and abs(res.eer - 0.5) < 0.03
    assert res.far_mean < 0.01 and res.val_mean < 0.02  # chance: VAL ~ FAR


def _brute_force_best_accuracy(d, s):
    """Accuracy of every possible cut, tried on a grid that contains each distinct decision."""
    u = np.unique(d)
    cands = np.concatenate([[u[0] - 1.0], (u[1:] + u[:-1]) / 2, [u[-1] + 1.0]])
    return max(np.mean((d <= t) == s) for t in cands)


def test_fold_threshold_never_sees_its_fold():
    rng = np.random.default_rng(2)
    issame, folds = _lfw_like_folds()
    d = np.where(issame, rng.normal(0.8, 0.3, issame.size), rng.normal(1.6, 0.3, issame.size))
    base = V.kfold_verification(d, issame, folds)
    for k in range(10):
        train = folds != k
        # the chosen threshold is optimal on the nine training folds (brute-force reference)
        acc_train = np.mean((d[train] <= base.fold_thresholds[k]) == issame[train])
        assert acc_train == pytest.approx(_brute_force_best_accuracy(d[train], issame[train]))
        # ...and its VAL threshold meets the FAR target on the training folds
        assert np.mean(d[train & ~issame] <= base.fold_val_thresholds[k]) <= 1e-3
    k = 3
    perturbed = d.copy()
    test = folds == k
    perturbed[test] = rng.permutation(perturbed[test]) * 3.0 - 2.0  # wreck the held-out fold
    res = V.kfold_verification(perturbed, issame, folds)
    assert res.fold_thresholds[k] == base.fold_thresholds[k]
    assert res.fold_val_thresholds[k] == base.fold_val_thresholds[k]
    assert res.fold_accuracies[k] != base.fold_accuracies[k]
    # the other folds do see fold k in training, so at least one of their thresholds moves
    others = [j for j in range(10) if j != k]
    assert any(res.fold_thresholds[j] != base.fold_thresholds[j] for j in others)


def test_best_accuracy_threshold_hand_made():
    assert V.best_accuracy_threshold([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0]) == (
        pytest.approx(0.25),
        1.0,
    )
    # accept 1 -> 3/4 correct, accept 3 -> 3/4; ties go to the smaller threshold
    thr, acc = V.best_accuracy_threshold([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0])
    assert (thr, acc) == (pytest.approx(0.15), 0.75)
    # tied distances cannot be split: best is "reject all" or "accept all", 1/2 either way
    thr, acc = V.best_accuracy_threshold([0.5, 0.5], [1, 0])
    assert acc == 0.5 and thr < 0.5
    thr, acc = V.best_accuracy_threshold([0.5, 0.5, 0.9], [1, 1, 0])
    assert (thr, acc) == (pytest.approx(0.7), 1.0)


def test_far_threshold_and_val_far_hand_made():
    d_diff = np.arange(1.0, 11.0)  # ten different pairs at distances 1..10
    d = np.r_[[0.5, 1.5, 2.5], d_diff]
    s = np.r_[[True] * 3, [False] * 10]
    t = V.far_threshold(d, s, 0.1)  # may accept 1 of 10: the one at distance 1
    assert 1.0 <= t < 2.0
    assert V.val_far_at(d, s, t) == (pytest.approx(2 / 3), pytest.approx(0.1))
    t = V.far_threshold(d, s, 0.05)  # may accept none
    assert t < 1.0 and V.val_far_at(d, s, t) == (pytest.approx(1 / 3), 0.0)
    t = V.far_threshold(d, s, 0.25)  # floor(2.5) = 2 false accepts
    assert V.val_far_at(d, s, t) == (1.0, pytest.approx(0.2))
    assert V.far_threshold(d, s, 1.0) >= 10.0


def test_kfold_val_at_far_hand_made():
    # 2 folds; fold 0 = same [1, 3], diff [2, 4, 6, 8]; fold 1 = same [1, 5], diff [0.5, 6, 7, 9]
    d = np.array([1, 3, 2, 4, 6, 8, 1, 5, 0.5, 6, 7, 9], float)
    s = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], bool)
    f = np.repeat([0, 1], 6)
    res = V.kfold_verification(d, s, f, far_target=0.25)
    # fold 0 trains on fold 1's diffs [0.5, 6, 7, 9]: k = 1 -> accept d < 6
    assert 0.5 <= res.fold_val_thresholds[0] < 6
    assert (res.fold_val[0], res.fold_far[0]) == (1.0, pytest.approx(0.5))  # 2, 4 accepted
    # fold 1 trains on fold 0's diffs [2, 4, 6, 8]: accept d < 4
    assert 2 <= res.fold_val_thresholds[1] < 4
    assert (res.fold_val[1], res.fold_far[1]) == (0.5, pytest.approx(0.25))  # 1 yes, 5 no; 0.5
    assert res.val_mean == pytest.approx(0.75) and res.far_mean == pytest.approx(0.375)
    # accuracy thresholds: fold 0 trained on fold 1: best cut 1 < t < 5 accepting {0.5, 1}
    # or t in (5, 6) accepting {0.5, 1, 5}: 5/6 vs 4/6 -> (5 + 6) / 2 = 5.5
    assert res.fold_thresholds[0] == pytest.approx(5.5)
    assert res.fold_accuracies[0] == pytest.approx(4 / 6)  # same 1, 3 in; diff 2, 4 in
    assert res.accuracy_std == pytest.approx(np.std(res.fold_accuracies))


def test_roc_auc_eer_hand_made():
    curve = V.roc_curve([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0])
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 0.5, 1, 1])
    assert V.auc(curve) == pytest.approx(0.75)
    assert V.eer(curve) == pytest.approx(0.5)
    # a tie between a same and a different pair is one diagonal step: AUC counts one half
    assert V.auc(V.roc_curve([0.3, 0.3], [1, 0])) == pytest.approx(0.5)


def test_auc_matches_mann_whitney_reference():
    rng = np.random.default_rng(3)
    s = rng.random(300) < 0.5
    d = np.round(np.where(s, rng.normal(1, 0.5, 300), rng.normal(1.5, 0.5, 300)), 1)  # ties
    pos, neg = d[s], d[~s]
    u = np.mean((pos[:, None] < neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert V.auc(V.roc_curve(d, s)) == pytest.approx(u)


def test_eer_interpolates_between_roc_points():
    # FRR - FAR goes from +0.5 (fpr 0, tpr 0.5) to -0.5 (fpr 0.5, tpr 1): crossing at fpr 0.25
    curve = V.RocCurve(np.array([0, 0, 0.5, 1]), np.array([0, 0.5, 1, 1]), np.zeros(4))
    assert V.eer(curve) == pytest.approx(0.25)


def test_nan_embeddings_are_refused_by_the_protocol():
    """pair_distances passes NaN rows on (embed's on_no_face="nan"); the protocol refuses
    them and names the distances."""
    d = pair_distances(np.full((2, 2), np.nan), np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match="distances"):
        V.kfold_verification(d, [True, False], [0, 1])


def test_make_folds_and_train_test():
    np.testing.assert_array_equal(V.make_folds(5, 2), [0, 0, 0, 1, 1])
    out = V.train_test_verification([0.1, 0.2, 0.9], [1, 1, 0], [0.3, 0.6, 0.4], [1, 0, 0])
    assert out["threshold"] == pytest.approx(0.55)
    assert out["train_accuracy"] == 1.0 and out["test_accuracy"] == pytest.approx(2 / 3)
