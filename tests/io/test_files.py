"""The one image lister: which files count, hidden entries, order, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.io.files import IMAGE_SUFFIXES, is_image_name, list_images


def _touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _relative(root, paths):
    return [p.relative_to(root).as_posix() for p in paths]


def test_suffixes_are_lower_case_and_cover_the_decoded_formats():
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)
    for s in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"):
        assert s in IMAGE_SUFFIXES


def test_suffix_is_case_insensitive_and_other_files_are_ignored(tmp_path):
    _touch(tmp_path, "a.JPG", "b.Png", "c.jpeg", "d.txt", "e", "f.jpg.bak", "g.TIFF")
    assert _relative(tmp_path, list_images(tmp_path)) == ["a.JPG", "b.Png", "c.jpeg", "g.TIFF"]


def test_hidden_files_and_folders_are_skipped(tmp_path):
    _touch(tmp_path, ".hidden.jpg", "._a.jpg", "a.jpg", ".cache/b.jpg", "x/.c.png", "x/d.png",
           "x/.git/e.png")  # fmt: skip
    assert _relative(tmp_path, list_images(tmp_path)) == ["a.jpg", "x/d.png"]


def test_a_hidden_root_is_listed(tmp_path):
    _touch(tmp_path, ".data/a.jpg")
    assert _relative(tmp_path, list_images(tmp_path / ".data")) == [".data/a.jpg"]


def test_sorted_with_each_folder_together(tmp_path):
    # Written out of order; "a-b" sorts between "a" and "a_c" by name, but the files of
    # "a/" stay together instead of interleaving with "a-b/".
    _touch(tmp_path, "b.png", "a_c/1.jpg", "a/2.jpg", "a-b/1.jpg", "a/1.jpg", "a/sub/0.jpg")
    assert _relative(tmp_path, list_images(tmp_path)) == [
        "a/1.jpg", "a/2.jpg", "a/sub/0.jpg", "a-b/1.jpg", "a_c/1.jpg", "b.png"
    ]  # fmt: skip


def test_not_recursive_lists_only_the_folder_itself(tmp_path):
    _touch(tmp_path, "a.jpg", "sub/b.jpg")
    assert _relative(tmp_path, list_images(tmp_path, recursive=False)) == ["a.jpg"]


def test_paths_are_below_the_given_root(tmp_path, monkeypatch):
    _touch(tmp_path, "x/a.jpg")
    monkeypatch.chdir(tmp_path)
    assert list_images("x") == [Path("x/a.jpg")]


def test_empty_folder_gives_an_empty_list(tmp_path):
    _touch(tmp_path, "notes.txt")
    assert list_images(tmp_path) == []


def test_missing_folder_and_file_are_named_in_the_error(tmp_path):
    with pytest.raises(InvalidInputError, match=r"missing: no such folder"):
        list_images(tmp_path / "missing")
    _touch(tmp_path, "a.jpg")
    with pytest.raises(InvalidInputError, match=r"a\.jpg: not a folder"):
        list_images(tmp_path / "a.jpg")


def test_folder_links_are_not_followed(tmp_path):
    _touch(tmp_path, "real/a.jpg")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real", target_is_directory=True)
    assert _relative(tmp_path, list_images(tmp_path)) == ["real/a.jpg"]


@pytest.mark.parametrize(
    "name,expected",
    [("a.jpg", True), ("A.WEBP", True), ("x.gif", True), (".a.jpg", False), ("a.txt", False),
     ("jpg", False), ("a.jpg.part", False)],
)  # fmt: skip
def test_is_image_name(name, expected):
    assert is_image_name(name) is expected
