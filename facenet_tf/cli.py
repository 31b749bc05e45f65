"""``facenet-tf``: one console script, one absl binary per subcommand.

Each subcommand defines its flags only when chosen, so their names never collide.
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module with an absl ``main`` and its flags, one-line help)
SUBCOMMANDS = {
    "models": ("facenet_tf.commands.models", "list the model zoo: ours beside the paper's figures"),
    "embed": ("facenet_tf.commands.embed", "embed images/folders to CSV, JSON or .npy"),
    "verify": ("facenet_tf.commands.verify", "are two photos the same person?"),
    "identify": ("facenet_tf.commands.identify", "k-NN identification against a gallery tree"),
    "cluster": ("facenet_tf.commands.cluster", "cluster the faces in folders"),
    "align": ("facenet_tf.align.align_dataset", "detect and align a {identity}/{image} tree"),
    "eval": ("facenet_tf.eval.evaluate", "LFW 10-fold evaluation with reports and plots"),
    "train": ("facenet_tf.train.train", "train an embedding with triplet loss"),
    "export-savedmodel": ("export.saved_model", "export a SavedModel with serving signatures"),
    "export-tflite": ("export.tflite", "export a (quantized) TFLite embedder"),
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

    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        app.run(module.main, argv=[f"facenet-tf {name}", *rest])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
