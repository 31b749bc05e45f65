"""Export of facenet-tf embedders for serving and on-device use.

* ``facenet_tf.export.saved_model``: a SavedModel for TF Serving with ``embed`` (uint8
  faces -> float32 unit vectors) and ``embed_quantized`` (-> int8 codes, 128 bytes per face).
* ``facenet_tf.export.tflite``: LiteRT flatbuffers (float32, float16, dynamic-range,
  full-integer int8), each with a JSON sidecar stating the app-side contract.

The binaries are ``facenet-tf export-savedmodel|export-tflite`` (or ``python -m
export.saved_model|export.tflite`` from the repository root); size, latency, cosine to
Keras and LFW accuracy of every variant are measured by ``benchmarks/export_parity.py``.

Importing this package has no side effects; the heavy modules load TensorFlow lazily.
"""
