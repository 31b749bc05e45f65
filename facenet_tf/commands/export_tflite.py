r"""``facenet-tf export-tflite``: a (quantized) TFLite model for LiteRT with its JSON
sidecar beside it (``facenet_tf.export.tflite``).

    facenet-tf export-tflite --model=dlib_resnet_v1 --quantization=int8 \
        --representative_dir=../shared/data/celeba/aligned_178x218 \
        --output=/tmp/dlib_resnet_v1_int8.tflite [--input_type=uint8|int8] \
        [--lfw_dir=../shared/data/lfw/lfw-deepfunneled \
         --dev_train_pairs=../shared/data/lfw/pairsDevTrain.txt]  # sidecar threshold
        [--calibration_percentile=98]    # int8: outlier faces left out of the ranges
        [--template=facenet_160]         # faces' template of an unregistered .keras model

Calibration and threshold faces are made by the model's face pipeline
(``facenet_tf.export.faces``), the crops ``facenet_tf.embed`` uses.
"""

from absl import app, flags, logging

# Literal copies of ``facenet_tf.export.tflite``'s (which loads TensorFlow) keep --help
# light; a test pins them to the originals.
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
INPUT_TYPES = ("uint8", "int8")
CALIBRATION_PERCENTILE = 98.0

_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras file.")
_QUANTIZATION = flags.DEFINE_enum("quantization", "float32", QUANTIZATIONS, "Variant.")
_REPRESENTATIVE_DIR = flags.DEFINE_string(
    "representative_dir", None, "Real face photos, not LFW (required for int8)."
)
_INPUT_TYPE = flags.DEFINE_enum("input_type", "uint8", INPUT_TYPES, "Input dtype of int8.")
_NUM_CALIBRATION = flags.DEFINE_integer("num_calibration", 200, "Calibration faces.")
_CALIBRATION_PERCENTILE = flags.DEFINE_float(
    "calibration_percentile",
    CALIBRATION_PERCENTILE,
    "int8: calibration faces whose activations exceed this percentile of the faces' "
    "are left out of the ranges (100: every face; see facenet_tf.export.calibration).",
)
_TEMPLATE = flags.DEFINE_string(
    "template",
    None,
    "Alignment template of an unregistered model's faces (e.g. facenet_160); registered "
    "models use their own.",
)
_LFW_DIR = flags.DEFINE_string(
    "lfw_dir", None, "LFW image tree; with --dev_train_pairs, the sidecar gets a threshold."
)
_DEV_TRAIN = flags.DEFINE_string(
    "dev_train_pairs", None, "LFW view-1 pairsDevTrain.txt (with --lfw_dir)."
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "The .tflite file to write; its JSON sidecar goes beside it as .json."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf.export import tflite
    from facenet_tf.io.files import check_writable

    config = tflite.TFLiteConfig(
        model=_MODEL.value or "",
        quantization=_QUANTIZATION.value,
        output=_OUTPUT.value or "",
        representative_dir=_REPRESENTATIVE_DIR.value,
        input_type=_INPUT_TYPE.value,
        num_calibration=_NUM_CALIBRATION.value,
        calibration_percentile=_CALIBRATION_PERCENTILE.value,
        template=_TEMPLATE.value,
        lfw_dir=_LFW_DIR.value,
        dev_train_pairs=_DEV_TRAIN.value,
        overwrite=_OVERWRITE.value,
    )
    check_writable(config.output)
    result = tflite.run(config)
    logging.info("wrote %s and %s", result["model"], result["sidecar"])
    print(result["model"])


if __name__ == "__main__":
    app.run(main)
