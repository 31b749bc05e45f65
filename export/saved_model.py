r"""Writes a SavedModel with ``embed`` / ``embed_quantized`` / ``serving_default``.

python -m export.saved_model --model=dlib_resnet_v1 --output=/tmp/facenet_savedmodel
"""

from __future__ import annotations

from absl import app, flags, logging

_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras file.")
_OUTPUT = flags.DEFINE_string("output", None, "SavedModel folder to write.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output folder.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from export import saved_model_lib

    config = saved_model_lib.SavedModelConfig(
        model=_MODEL.value or "", output=_OUTPUT.value or "", overwrite=_OVERWRITE.value
    )
    path = saved_model_lib.run(config)
    logging.info("wrote %s", path)
    print(path)


if __name__ == "__main__":
    app.run(main)
