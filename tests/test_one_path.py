"""One path from photo to vector: embed, the evaluation and training validation agree.

Every route that turns a photo into a model input must give the same crops (and so the
same vectors) as ``facenet_tf.embed`` with the same settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facenet_tf
from facenet_tf.eval import evaluate_lib
from facenet_tf.eval.evaluator import CropEvaluator, PairEvaluator
from facenet_tf.face_pipeline import FacePipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "faces"
FILES = sorted(str(p) for p in EXAMPLES.glob("*/*.jpg"))


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    """A 2-fold pair file over the example photos (they are laid out like LFW)."""
    people = sorted({Path(f).parent.name for f in FILES})
    lines = ["2\t3"]
    for fold in range(2):
        for k in range(3):
            lines.append(f"{people[(fold * 3 + k) % 6]}\t1\t{2 + fold}")
        for k in range(3):
            a, b = people[k], people[(k + 1 + fold) % 6]
            lines.append(f"{a}\t{3 + fold}\t{b}\t4")
    path = tmp_path_factory.mktemp("pairs") / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluation_embeds_exactly_like_embed(tmp_path, pairs_file):
    config = evaluate_lib.EvalConfig(
        model="", lfw_dir=str(EXAMPLES), pairs=str(pairs_file), workdir=str(tmp_path)
    ).validate()
    compute, key = evaluate_lib.pipeline_compute(config)
    got, no_face = compute(FILES[:6])
    np.testing.assert_array_equal(got, facenet_tf.embed(FILES[:6]))
    assert not no_face.any() and "center_weighted" in key and "'flip', True" in key


def test_pair_evaluator_scores_embed_vectors(pairs_file):
    evaluator = PairEvaluator(pairs_file, EXAMPLES)
    vectors = facenet_tf.embed([str(p) for p in evaluator.paths])
    result = evaluator.score(vectors)
    assert result["num_pairs"] == 12 and result["accuracy_mean"] == 1.0
    # The same figure as a brute-force count at each fold's threshold.
    d = np.sum((vectors[evaluator.first] - vectors[evaluator.second]) ** 2, axis=1)
    folds = np.asarray(evaluator.pairs.folds)
    for k, thr in enumerate(result["fold_thresholds"]):
        test = folds == k
        want = np.mean((d[test] <= thr) == evaluator.issame[test])
        assert result["fold_accuracies"][k] == pytest.approx(want)


def test_training_validation_crops_are_the_pipeline_crops(pairs_file):
    pipeline = FacePipeline(flip=False)
    evaluator = PairEvaluator(pairs_file, EXAMPLES)
    prepared = CropEvaluator(evaluator, pipeline)
    np.testing.assert_array_equal(
        prepared.pixels, pipeline.crops([str(p) for p in evaluator.paths]).pixels
    )
    # Scored with the model's forward pass, it reproduces the evaluator on embed's vectors.
    got = prepared(pipeline.embedder.embed_pixels, batch_size=5)
    want = evaluator.score(pipeline.embed([str(p) for p in evaluator.paths]))
    assert got["accuracy_mean"] == want["accuracy_mean"]
    assert got["mean_distance_same"] == pytest.approx(want["mean_distance_same"], abs=1e-6)
