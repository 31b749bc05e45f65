r"""Converts a model to TFLite for LiteRT and writes the JSON sidecar beside it.

    python -m export.tflite --model=dlib_resnet_v1 --quantization=int8 \
        --representative_dir=../shared/data/celeba/aligned_178x218 \
        --output=/tmp/dlib_resnet_v1_int8.tflite [--input_type=uint8|int8] \
        [--lfw_dir=../shared/data/lfw/lfw-deepfunneled \
         --dev_train_pairs=../shared/data/lfw/pairsDevTrain.txt]  # sidecar threshold
        [--template=facenet_160]         # faces' template of an unregistered .keras model

Calibration and threshold faces are made by the model's face pipeline
(``facenet_tf.export.faces``), the crops ``facenet_tf.embed`` uses.

The flags and ``main`` are those of ``facenet-tf export-tflite``; the conversion itself
is ``facenet_tf.export.tflite``.
"""

from absl import app, flags

from facenet_tf.commands import export_tflite

flags.adopt_module_key_flags(export_tflite)  # listed by --help, not only --helpfull

if __name__ == "__main__":
    app.run(export_tflite.main)
