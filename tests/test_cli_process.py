"""The facenet-tf console script in fresh processes: --help without TensorFlow, quiet
start-up, and what the wheel installs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facenet_tf import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
# Their modules (facenet_tf.align, .eval, .train) load TensorFlow at import.
LOADS_TENSORFLOW_FOR_HELP = {"align", "eval", "train"}
NOISE = ("cuInit", "oneDNN", "absl::InitializeLog", "cudart_stub", "cpu_feature_guard")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    # What a user's shell has: no TF_CPP_MIN_LOG_LEVEL (conftest sets one for the tests).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        env=env,
    )


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``facenet-tf ARGS``; stderr ends with whether TensorFlow was loaded."""
    code = (
        "import sys\nfrom facenet_tf import cli\ncode = cli.main(sys.argv[1:])\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)"
    )
    return _python(code, *args)


def test_top_level_help_lists_commands_without_tensorflow():
    proc = _cli("--help")
    assert proc.returncode == 0
    assert all(f"  {name} " in proc.stdout for name in cli.SUBCOMMANDS)
    assert "tensorflow loaded: False" in proc.stderr


@pytest.mark.parametrize("name", sorted(set(cli.SUBCOMMANDS) - LOADS_TENSORFLOW_FOR_HELP))
def test_subcommand_help_lists_its_flags_without_tensorflow(name):
    proc = _cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: facenet-tf {name}")
    assert "--model:" in proc.stdout or name == "models"
    assert "--[no]verbose:" in proc.stdout and "Try --helpfull" not in proc.stdout
    assert "tensorflow loaded: False" in proc.stderr


@pytest.mark.parametrize("name", sorted(LOADS_TENSORFLOW_FOR_HELP))
def test_heavy_subcommand_help_lists_its_flags(name):
    proc = _cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: facenet-tf {name}") and "\n  --" in proc.stdout
    assert not [line for line in proc.stderr.splitlines() if any(n in line for n in NOISE)]


def test_importing_the_package_loads_no_tensorflow_until_a_name_is_used():
    proc = _python(
        "import sys, facenet_tf\n"
        "print('before', 'tensorflow' in sys.modules)\n"
        "missing = [n for n in facenet_tf.__all__ if getattr(facenet_tf, n, None) is None]\n"
        "print('missing', missing)\n"
        "print('align callable', callable(facenet_tf.align))"
    )
    assert proc.returncode == 0, proc.stderr
    assert "before False" in proc.stdout
    assert "missing []" in proc.stdout and "align callable True" in proc.stdout


def test_commands_print_no_tensorflow_log_lines():
    proc = _cli("models", "--names=mobilefacenet")
    assert proc.returncode == 0, proc.stderr
    assert "mobilefacenet" in proc.stdout
    assert "tensorflow loaded: True" in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if any(n in line for n in NOISE)]


def test_verbose_keeps_tensorflow_logging():
    proc = _cli("models", "--names=mobilefacenet", "--verbose")
    # Which native lines appear depends on the machine; the run must succeed either way.
    assert proc.returncode == 0, proc.stderr
    assert "mobilefacenet" in proc.stdout


def test_user_error_has_no_traceback(tmp_path):
    proc = _cli("embed", f"--input={tmp_path / 'missing'}", f"--output={tmp_path / 'e.csv'}")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("tensorflow loaded")]
    assert lines == [f"error: {tmp_path / 'missing'}: no such file or folder"]


def _setup_packages_call() -> ast.Call:
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "packages":
            assert isinstance(node.value, ast.Call), "packages= is expected to call find_packages"
            return node.value
    raise AssertionError("setup.py passes no packages=")


def test_wheel_installs_no_top_level_package_but_facenet_tf():
    """The repository's own ``export/`` binaries must not land in site-packages as a
    top-level ``export`` package."""
    from setuptools import find_packages

    call = _setup_packages_call()
    assert getattr(call.func, "id", None) == "find_packages"
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert not args and "where" not in kwargs, "setup.py lists packages from the repository root"
    packages = find_packages(where=str(REPO_ROOT), **kwargs)
    assert "facenet_tf" in packages and "facenet_tf.commands" in packages
    assert {p.split(".")[0] for p in packages} == {"facenet_tf"}
