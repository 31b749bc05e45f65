"""``facenet-tf``: one console script, one absl binary per subcommand.

Each subcommand defines its flags only when chosen, so their names never collide: the
table holds functions that import the subcommand's module (which defines its flags)
and return its ``main``.

Shared behaviour, kept here so every subcommand gets it:

* ``facenet-tf <command> --help`` prints the command's description and its own flags
  (exit 0) without importing TensorFlow;
* TensorFlow's native start-up lines (oneDNN, CUDA, absl::InitializeLog) are hidden
  unless ``--verbose`` is given; Python warnings and the library's own logging stay;
* user errors (bad flag values, missing inputs, unusable output locations) print one
  ``error: ...`` line on stderr and exit 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

Main = Callable[[list[str]], object]

HELP_ARGS = ("-h", "-?", "--help", "--helpshort")
VERBOSE_HELP = "--[no]verbose: show TensorFlow's native log lines."
# Lines the TensorFlow/XLA C++ runtime writes to fd 2 while it loads: glog-style records
# ("I0000 00:00:1712.34 123 port.cc:153] ..."), absl's pre-InitializeLog notice and the
# continuation of the CPU-feature notice.
_NATIVE_LOG_LINE = re.compile(
    rb"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]|WARNING: All log messages before "
    rb"absl::InitializeLog\(\)|To enable the following instructions:)"
)
EXIT_USER_ERROR = 2


def _models() -> Main:
    from facenet_tf.commands import models

    return models.main


def _embed() -> Main:
    from facenet_tf.commands import embed

    return embed.main


def _bulk_embed() -> Main:
    from facenet_tf.commands import bulk_embed

    return bulk_embed.main


def _verify() -> Main:
    from facenet_tf.commands import verify

    return verify.main


def _identify() -> Main:
    from facenet_tf.commands import identify

    return identify.main


def _gallery() -> Main:
    from facenet_tf.commands import gallery

    return gallery.main


def _cluster() -> Main:
    from facenet_tf.commands import cluster

    return cluster.main


def _align() -> Main:
    from facenet_tf.align import align_dataset

    return align_dataset.main


def _eval() -> Main:
    from facenet_tf.eval import evaluate

    return evaluate.main


def _train() -> Main:
    from facenet_tf.train import train

    return train.main


def _export_savedmodel() -> Main:
    from facenet_tf.commands import export_savedmodel

    return export_savedmodel.main


def _export_tflite() -> Main:
    from facenet_tf.commands import export_tflite

    return export_tflite.main


# subcommand -> (loads the absl binary's flags and returns its ``main``, one-line help)
SUBCOMMANDS: dict[str, tuple[Callable[[], Main], str]] = {
    "models": (_models, "list the model zoo: ours beside the paper's figures"),
    "embed": (_embed, "embed images/folders to CSV, JSON or .npy"),
    "bulk-embed": (_bulk_embed, "detect, align and embed a photo archive with Apache Beam"),
    "verify": (_verify, "are two photos the same person?"),
    "identify": (_identify, "k-NN identification against a gallery tree"),
    "cluster": (_cluster, "cluster the faces in folders"),
    "gallery": (_gallery, "a persistent face gallery: create|add|remove|search|identify|info"),
    "align": (_align, "detect and align a {identity}/{image} tree"),
    "eval": (_eval, "LFW 10-fold evaluation with reports and plots"),
    "train": (_train, "train an embedding with triplet loss"),
    "export-savedmodel": (_export_savedmodel, "export a SavedModel with serving signatures"),
    "export-tflite": (_export_tflite, "export a (quantized) TFLite embedder"),
}


class UserError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit 2."""


def _usage() -> str:
    lines = ["usage: facenet-tf <command> [--flags]  (facenet-tf <command> --help)", ""]
    lines += [f"  {name:<18} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", f"every command: {VERBOSE_HELP}"]
    return "\n".join(lines)


def _split_verbose(args: list[str]) -> tuple[bool, list[str]]:
    """Takes ``--verbose``/``--noverbose``/``--verbose=BOOL`` out of the arguments (every
    subcommand accepts it, whichever flags its module defines)."""
    verbose, rest = False, []
    for i, arg in enumerate(args):
        if arg == "--":
            rest += args[i:]
            break
        if arg in ("--verbose", "--noverbose"):
            verbose = arg == "--verbose"
        elif arg.startswith("--verbose="):
            value = arg.partition("=")[2].lower()
            if value not in ("true", "false", "1", "0"):
                raise UserError(f"--verbose takes true or false, got {value!r}")
            verbose = value in ("true", "1")
        else:
            rest.append(arg)
    return verbose, rest


@contextlib.contextmanager
def _native_logs_dropped() -> Iterator[None]:
    """Holds back what native code writes to fd 2 meanwhile, then writes it back without
    TensorFlow's native log lines (they are printed before ``TF_CPP_MIN_LOG_LEVEL`` is
    read, so that variable alone does not hide them)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held if not _NATIVE_LOG_LINE.match(line)]
            if kept:
                sys.stderr.flush()
                os.write(2, b"".join(kept))


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Makes the first ``import tensorflow`` (wherever it happens, if it happens) run
    inside ``_native_logs_dropped``, so a command that fails early never loads it."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec, once
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec_module(module) -> None:
                with _native_logs_dropped():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec_module
        return spec


def _quiet_tensorflow() -> None:
    """Hides TensorFlow's native start-up lines and its INFO/WARNING records (C++ and the
    ``tensorflow`` Python logger) from here on."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def _command_help(name: str, module_doc: str | None, new_flags: list) -> str:
    from absl import flags

    lines = [f"usage: facenet-tf {name} [--flags]", ""]
    if module_doc:
        lines += [module_doc.strip(), ""]
    lines.append("flags:")
    for flag in new_flags:
        text = f"--[no]{flag.name}: " if flag.boolean else f"--{flag.name}: "
        lines.append(
            flags.text_wrap(text + (flag.help or ""), indent="    ", firstline_indent="  ")
        )
        if flag.default_as_str:
            lines.append(flags.text_wrap(f"(default: {flag.default_as_str})", indent="    "))
        if flag.parser.syntactic_help:
            lines.append(flags.text_wrap(f"({flag.parser.syntactic_help})", indent="    "))
    lines += ["  " + VERBOSE_HELP, "", "All absl flags: facenet-tf " + name + " --helpfull"]
    return "\n".join(lines)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _run(name: str, args: list[str]) -> int:
    from absl import app, flags

    from facenet_tf.errors import FaceNetError

    verbose, args = _split_verbose(args)
    if not verbose:
        _quiet_tensorflow()
        # Apache Beam (bulk-embed) logs every bundle and batch at INFO.
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
        # faiss logs which of its CPU builds it loaded at INFO.
        logging.getLogger("faiss").setLevel(logging.WARNING)
    before = set(flags.FLAGS)
    command_main = SUBCOMMANDS[name][0]()
    head = args[: args.index("--")] if "--" in args else args
    if any(a in HELP_ARGS for a in head):
        module = sys.modules[command_main.__module__]
        new_flags = [flags.FLAGS[f] for f in flags.FLAGS if f not in before]
        print(_command_help(name, module.__doc__, new_flags))
        return 0

    # A command whose module sets PASS_UNKNOWN_FLAGS gets the flags it does not define in
    # its argv (bulk-embed hands them to Beam as pipeline options).
    known_only = getattr(sys.modules[command_main.__module__], "PASS_UNKNOWN_FLAGS", False)

    def parse(argv: list[str]) -> list[str]:
        try:
            return flags.FLAGS(argv, known_only=known_only)
        except flags.Error as err:
            raise UserError(err) from None

    def run_main(argv: list[str]) -> object:
        try:
            return command_main(argv)
        except (app.UsageError, FaceNetError, OSError) as err:
            # OSError: a folder or file the user named could not be read or written.
            raise UserError(_one_line(err)) from err

    try:
        app.run(run_main, argv=[f"facenet-tf {name}", *args], flags_parser=parse)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except UserError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facenet-tf`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"facenet-tf: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        return _run(name, rest)
    except UserError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
