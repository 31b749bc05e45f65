"""The verification threshold comes from view-1 DevTrain only, scored by PairEvaluator on
the export face pipeline's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import threshold
from facenet_tf.face_pipeline import Crops

# Hand-made unit vectors: squared L2 A1-A2 = B1-B2 = 0.4, C1-A1 = 4.0, C1-B1 = 2.0.
VECTORS = {
    ("A", 1): [1.0, 0.0],
    ("A", 2): [0.8, 0.6],
    ("B", 1): [0.0, 1.0],
    ("B", 2): [0.6, 0.8],
    ("C", 1): [-1.0, 0.0],
}


def _lfw(tmp_path, header="2", lines=("A 1 2", "B 1 2", "A 1 C 1", "B 1 C 1")):
    """(pairs file, image tree) of a tiny LFW-style set."""
    pairs = tmp_path / "pairsDevTrain.txt"
    pairs.write_text("\n".join([header, *lines]) + "\n")
    for name, index in VECTORS:
        image = tmp_path / "lfw" / name / f"{name}_{index:04d}.jpg"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(b"")  # never decoded by these tests
    return pairs, tmp_path / "lfw"


def test_view2_file_is_refused(tmp_path):
    lines = ["A 1 2", "B 1 C 1", "D 1 2", "E 1 F 1"]
    with pytest.raises(InvalidInputError, match="view 2"):
        threshold.devtrain_evaluator(*_lfw(tmp_path, "2\t1", lines))


def test_threshold_from_hand_made_embeddings(tmp_path):
    evaluator = threshold.devtrain_evaluator(*_lfw(tmp_path))
    embeddings = np.array([VECTORS[key] for key in evaluator.keys])
    result = threshold.threshold_from_embeddings(evaluator, embeddings)
    # Sorted distances 0.4, 0.4 | 2.0, 4.0: the best cut is the midpoint (0.4 + 2.0) / 2.
    assert result["threshold"] == pytest.approx(1.2)
    assert result["devtrain_accuracy"] == 1.0
    assert "4 LFW view-1 DevTrain pairs" in result["note"]


class _Spec:
    input_size = (2, 2)


class _StubPipeline:
    """Stands in for FacePipeline: each photo's crop is filled with its key's number."""

    spec = _Spec()

    def __init__(self):
        self.calls = []

    def crops(self, names):
        self.calls.append(len(names))
        keys = [tuple(n.rsplit("/", 1)[-1][:-4].split("_")) for n in names]
        codes = [sorted(VECTORS).index((k[0], int(k[1]))) for k in keys]
        pixels = np.stack([np.full((2, 2, 3), c + 0.4, np.float32) for c in codes])
        no_face = np.array([k == ("C", "0001") for k in keys])
        return Crops(pixels, list(names), no_face)


def test_devtrain_threshold_embeds_the_pipeline_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr(threshold, "CHUNK", 2)
    pipeline = _StubPipeline()
    table = np.array([VECTORS[k] for k in sorted(VECTORS)])
    seen = []

    def embed_fn(pixels):
        assert pixels.dtype == np.uint8  # rounded 0.4 -> 0: the code itself
        seen.append(len(pixels))
        return table[pixels[:, 0, 0, 0]]

    result = threshold.devtrain_threshold(embed_fn, *_lfw(tmp_path), pipeline)
    assert result["threshold"] == pytest.approx(1.2) and result["devtrain_accuracy"] == 1.0
    assert result["no_face"] == 1
    assert seen == [2, 2, 1] and pipeline.calls == [2, 2, 1]


def test_real_devtrain_file_parses(shared_data):
    lfw = shared_data / "lfw"
    if not (lfw / "lfw-deepfunneled").is_dir():
        pytest.skip("the LFW image tree is not available")
    evaluator = threshold.devtrain_evaluator(lfw / "pairsDevTrain.txt", lfw / "lfw-deepfunneled")
    assert len(evaluator) == 2200 and evaluator.pairs.num_folds == 1
