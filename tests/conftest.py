"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Quiet TensorFlow's start-up chatter in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (or $FACENET_TF_SHARED_DATA), if present."""
    env = os.environ.get("FACENET_TF_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real-face data; skips the test when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not available")
    return path


@pytest.fixture(autouse=True)
def _forget_binary_flags():
    """Binaries define absl flags when imported; after each test, drop the flags it
    defined and unload the modules that defined them, so that another binary defining the
    same flag names (``--output_dir``, ``--model``, ...) can be imported by a later test,
    and a later test importing the same binary gets its flags again."""
    from absl import flags

    before = set(flags.FLAGS)
    yield
    added = set(flags.FLAGS) - before
    if not added:
        return
    owners = {
        module
        for module, defined in flags.FLAGS.flags_by_module_dict().items()
        if any(f.name in added for f in defined)
    }
    for name in added:
        delattr(flags.FLAGS, name)
    for module in owners:
        if module in sys.modules and module.startswith(("facenet_tf.", "export.", "benchmarks.")):
            del sys.modules[module]
            # ``from package import module`` reuses the package attribute: drop it too.
            parent, _, child = module.rpartition(".")
            if parent in sys.modules and hasattr(sys.modules[parent], child):
                delattr(sys.modules[parent], child)


# A tiny trained-looking model file and a two-identity photo tree with one broken file:
# the command-line tests (tests/test_cli.py, tests/gallery/test_cli.py) share them.


def _tiny_model():
    from tests.test_inference import _model

    return _model()


def _tiny_images(n):
    from tests.test_inference import _images

    return _images(n)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    _tiny_model().save(path)
    return path


@pytest.fixture()
def folder(tmp_path):
    import cv2

    images = _tiny_images(3)
    root = tmp_path / "faces"
    for i, img in enumerate(images):
        (root / f"id{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"id{i % 2}" / f"{i}.png"), img[..., ::-1])
    (root / "id0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root, images
