r"""Writes a trained model's weights as the package's shipped ``.npz`` of a registered model.

    python -m facenet_tf.pretrained.ship_weights --keras=WORKDIR/model.keras \
        --name=mobilefacenet_harmonic_dlib

It loads the ``.keras`` file, checks that its layers match the registered architecture
``--name``, writes ``facenet_tf/pretrained/weights/{name}.npz`` (or ``--output``) and
prints the arrays' hash to pin in ``facenet_tf.pretrained.shipped.SHIPPED`` and the
file's sha256 to pin in the tests.
"""

from __future__ import annotations

from absl import app, flags

_KERAS = flags.DEFINE_string("keras", None, "Trained .keras model (e.g. WORKDIR/model.keras).")
_NAME = flags.DEFINE_string("name", None, "Registered model the weights are for.")
_OUTPUT = flags.DEFINE_string("output", "", "Where to write (default the package's file).")


def main(argv: list[str]) -> None:
    del argv
    import facenet_tf
    from facenet_tf.pretrained.cache import sha256_file
    from facenet_tf.pretrained.shipped import (
        check_layout,
        model_arrays,
        save_model_arrays,
        shipped_weights_path,
    )

    trained = facenet_tf.load_model(_KERAS.value)  # registers facenet_tf's layers first
    target = facenet_tf.create_model(_NAME.value)  # the registered architecture, untrained
    check_layout(target, model_arrays(trained), _KERAS.value)
    out = _OUTPUT.value or str(shipped_weights_path(_NAME.value))
    arrays_hash = save_model_arrays(trained, out)
    print(f"{out}: arrays_sha256 {arrays_hash}; file sha256 {sha256_file(out)}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["keras", "name"])
    app.run(main)
