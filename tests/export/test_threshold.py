"""The verification threshold comes from view-1 DevTrain only."""

from __future__ import annotations

import numpy as np
import pytest

from export import threshold
from facenet_tf.errors import InvalidInputError


def _write(tmp_path, header, lines):
    (tmp_path / threshold.DEVTRAIN_FILE).write_text("\n".join([header, *lines]) + "\n")
    return tmp_path


def test_view2_file_is_refused(tmp_path):
    lines = ["A 1 2", "B 1 C 1", "D 1 2", "E 1 F 1"]
    with pytest.raises(InvalidInputError, match="view 2"):
        threshold.devtrain_pairs(_write(tmp_path, "2\t1", lines))


def test_threshold_from_hand_made_embeddings(tmp_path):
    pairs = threshold.devtrain_pairs(
        _write(tmp_path, "2", ["A 1 2", "B 1 2", "A 1 C 1", "B 1 C 1"])
    )
    e = {
        ("A", 1): np.array([1.0, 0.0]),
        ("A", 2): np.array([0.8, 0.6]),  # squared L2 to A1: 0.04 + 0.36 = 0.4
        ("B", 1): np.array([0.0, 1.0]),
        ("B", 2): np.array([0.6, 0.8]),  # to B1: 0.36 + 0.04 = 0.4
        ("C", 1): np.array([-1.0, 0.0]),  # to A1: 4.0, to B1: 2.0
    }
    result = threshold.threshold_from_embeddings(e, pairs)
    # Sorted distances 0.4, 0.4 | 2.0, 4.0: the best cut is the midpoint (0.4 + 2.0) / 2.
    assert result["threshold"] == pytest.approx(1.2)
    assert result["devtrain_accuracy"] == 1.0


def test_real_devtrain_file_parses(shared_data):
    pairs = threshold.devtrain_pairs(shared_data / "lfw")
    assert len(pairs) == 2200 and pairs.num_folds == 1
