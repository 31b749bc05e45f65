"""``facenet-tf``: one console script, one absl binary per subcommand.

Each subcommand defines its flags only when chosen, so their names never collide: the
table holds functions that import the subcommand's module (which defines its flags)
and return its ``main``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Main = Callable[[list[str]], object]


def _models() -> Main:
    from facenet_tf.commands import models

    return models.main


def _embed() -> Main:
    from facenet_tf.commands import embed

    return embed.main


def _verify() -> Main:
    from facenet_tf.commands import verify

    return verify.main


def _identify() -> Main:
    from facenet_tf.commands import identify

    return identify.main


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
    "verify": (_verify, "are two photos the same person?"),
    "identify": (_identify, "k-NN identification against a gallery tree"),
    "cluster": (_cluster, "cluster the faces in folders"),
    "align": (_align, "detect and align a {identity}/{image} tree"),
    "eval": (_eval, "LFW 10-fold evaluation with reports and plots"),
    "train": (_train, "train an embedding with triplet loss"),
    "export-savedmodel": (_export_savedmodel, "export a SavedModel with serving signatures"),
    "export-tflite": (_export_tflite, "export a (quantized) TFLite embedder"),
}


def _usage() -> str:
    lines = ["usage: facenet-tf <command> [--flags]  (facenet-tf <command> --help)", ""]
    lines += [f"  {name:<18} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facenet-tf`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"facenet-tf: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from absl import app

    command_main = SUBCOMMANDS[name][0]()
    try:
        app.run(command_main, argv=[f"facenet-tf {name}", *rest])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
