"""``facenet-tf verify``: same person or not, for two photos. Prints JSON."""

import json

from absl import app, flags

_A = flags.DEFINE_string("a", None, "First image.")
_B = flags.DEFINE_string("b", None, "Second image.")
_MODEL = flags.DEFINE_string("model", None, "Registered model name or .keras path.")
_THRESHOLD = flags.DEFINE_float("threshold", None, "Squared-L2 threshold (default: calibrated).")
_FAR = flags.DEFINE_float(
    "far", None, "Decide at this calibrated false-accept rate (e.g. 1e-3) instead of --threshold."
)
_ALIGNED = flags.DEFINE_bool("aligned", False, "Inputs are aligned crops: skip detection.")
flags.mark_flags_as_required(["a", "b"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf.tasks import decision_threshold, verify

    threshold = decision_threshold(_THRESHOLD.value, _FAR.value, _MODEL.value)
    same, dist = verify(
        _A.value, _B.value, threshold=threshold, model=_MODEL.value, aligned=_ALIGNED.value
    )
    print(
        json.dumps(
            {
                "a": _A.value,
                "b": _B.value,
                "same": same,
                "distance": dist,
                "threshold": threshold,
                "far": _FAR.value,
            }
        )
    )


if __name__ == "__main__":
    app.run(main)
