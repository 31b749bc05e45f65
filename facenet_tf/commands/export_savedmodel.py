r"""``facenet-tf export-savedmodel``: a SavedModel with ``embed`` / ``embed_quantized`` /
``serving_default`` signatures (``facenet_tf.export.saved_model``).

    facenet-tf export-savedmodel --model=dlib_resnet_v1 --output=/tmp/facenet_savedmodel
"""

from absl import app, flags, logging

_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras file.")
_OUTPUT = flags.DEFINE_string("output", None, "SavedModel folder to write.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output folder.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf.export import saved_model

    config = saved_model.SavedModelConfig(
        model=_MODEL.value or "", output=_OUTPUT.value or "", overwrite=_OVERWRITE.value
    )
    path = saved_model.run(config)
    logging.info("wrote %s", path)
    print(path)


if __name__ == "__main__":
    app.run(main)
