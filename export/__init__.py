"""absl binaries of the export library ``facenet_tf.export``, run from the repository root.

* ``python -m export.saved_model``: a SavedModel for TF Serving.
* ``python -m export.tflite``: a (quantized) TFLite model with its JSON sidecar.

The same binaries are ``facenet-tf export-savedmodel`` and ``facenet-tf export-tflite``.
This folder is not installed; everything it runs lives in ``facenet_tf``.
"""
