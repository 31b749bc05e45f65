r"""Writes a SavedModel with ``embed`` / ``embed_quantized`` / ``serving_default``.

    python -m export.saved_model --model=dlib_resnet_v1 --output=/tmp/facenet_savedmodel

The flags and ``main`` are those of ``facenet-tf export-savedmodel``; the export itself
is ``facenet_tf.export.saved_model``.
"""

from absl import app, flags

from facenet_tf.commands import export_savedmodel

flags.adopt_module_key_flags(export_savedmodel)  # listed by --help, not only --helpfull

if __name__ == "__main__":
    app.run(export_savedmodel.main)
