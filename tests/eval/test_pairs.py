"""LFW pair files and the YouTube Faces splits reader."""

from __future__ import annotations

import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import pairs


def _write(tmp_path, text, name="pairs.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_view2_layout_and_paths(tmp_path):
    text = "2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t4\nB\t1\tC\t12\n"
    plist = pairs.read_lfw_pairs(_write(tmp_path, text))
    assert (plist.num_folds, plist.pairs_per_fold, len(plist)) == (2, 1, 4)
    assert plist.issame == [True, False, True, False]
    assert plist.folds == [0, 0, 1, 1]
    assert plist.pairs[1] == pairs.Pair("A", 1, "B", 3, False, 0)
    assert plist.image_keys() == [
        ("A", 1),
        ("A", 2),
        ("B", 3),
        ("C", 2),
        ("C", 4),
        ("B", 1),
        ("C", 12),
    ]
    assert pairs.lfw_image_path("/x", "C", 12).as_posix() == "/x/C/C_0012.jpg"


def test_view1_header(tmp_path):
    plist = pairs.read_lfw_pairs(_write(tmp_path, "2\nA 1 2\nB 1 3\nA 1 B 2\nC 1 D 1\n"))
    assert (plist.num_folds, plist.issame, plist.folds) == (1, [True, True, False, False], [0] * 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("1 2 3\n", "header"),
        ("x\t1\n", "not an integer"),
        ("1\t1\nA 1 2\n", "promises 2 pairs"),
        ("1\t1\nA 1 B 2\nA 1 B 2\n", "matched pair line"),
        ("1\t1\nA 1 2\nA 1 2\n", "mismatched pair line"),
        ("1\t1\nA one 2\nA 1 B 2\n", "index 'one'"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, text, match):
    with pytest.raises(InvalidInputError, match=match):
        pairs.read_lfw_pairs(_write(tmp_path, text))


def test_missing_file():
    with pytest.raises(InvalidInputError, match="no such file"):
        pairs.read_lfw_pairs("/nonexistent/pairs.txt")


def test_real_lfw_view2(shared_data):
    plist = pairs.read_lfw_pairs(shared_data / "lfw" / "pairs.txt")
    assert len(plist) == 6000 and plist.num_folds == 10 and plist.pairs_per_fold == 300
    for k in range(10):
        fold = plist.pairs[600 * k : 600 * (k + 1)]
        assert all(p.fold == k for p in fold)
        assert [p.issame for p in fold] == [True] * 300 + [False] * 300
        assert all(p.name1 == p.name2 for p in fold[:300])
        assert all(p.name1 != p.name2 for p in fold[300:])
    assert pairs.missing_images(plist, shared_data / "lfw" / "lfw-deepfunneled") == []
    assert len(plist.image_keys()) == 7701


def test_real_lfw_view1(shared_data):
    train = pairs.read_lfw_pairs(shared_data / "lfw" / "pairsDevTrain.txt")
    test = pairs.read_lfw_pairs(shared_data / "lfw" / "pairsDevTest.txt")
    assert (len(train), sum(train.issame), train.num_folds) == (2200, 1100, 1)
    assert (len(test), sum(test.issame)) == (1000, 500)
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    assert pairs.missing_images(train, lfw) == [] and pairs.missing_images(test, lfw) == []


def test_youtube_faces_splits(tmp_path):
    text = (
        "split number, pair number, first name, second name, is same (1) or different (0)\n"
        "1, 1, Aaron_Eckhart/0, Aaron_Eckhart/1, 1\n"
        "1, 2, Aaron_Eckhart/0, Bob/2, 0, 0\n"
        "\n"
        "10, 3, Bob/2, Bob/3, 1\n"
    )
    out = pairs.read_youtube_faces_splits(_write(tmp_path, text, "splits.txt"))
    assert out == [
        pairs.VideoPair("Aaron_Eckhart/0", "Aaron_Eckhart/1", True, 0),
        pairs.VideoPair("Aaron_Eckhart/0", "Bob/2", False, 0),
        pairs.VideoPair("Bob/2", "Bob/3", True, 9),
    ]
    with pytest.raises(InvalidInputError, match="same flag"):
        pairs.read_youtube_faces_splits(_write(tmp_path, "1, 1, a/0, a/1, 2\n", "bad.txt"))
