"""``facenet-tf bulk-embed``: detect, align and embed every face of a photo archive with
Apache Beam (needs ``pip install "facenet-tf[beam]"``).

  facenet-tf bulk-embed --input_pattern='photos/*.jpg' --output_prefix=out/run
      [--model=NAME|FILE.keras] [--faces=all|one] [--format=tfrecord|parquet]
      [Beam options: --runner=DirectRunner --direct_num_workers=2 ...]

(the same: python -m facenet_tf.pipelines.bulk_embed). Records, one per face (path,
face_index, box, landmarks, score, embedding, model), go to PREFIX-SSSSS-of-NNNNN.tfrecord
(or .parquet); photos that gave none (unreadable, no face, too small, too large, error) go to
PREFIX-failures-SSSSS-of-NNNNN.jsonl with the reason. Flags this command does not define
are Beam pipeline options (write them as --name=value).
Read the records with facenet_tf.data.read_embeddings(PREFIX). See docs/bulk.md.
"""

from absl import app, flags

from facenet_tf.face_choice import DEFAULT_POLICY, ONE_FACE_POLICIES

# Unknown flags are Beam pipeline options: ``facenet-tf`` parses known flags only.
PASS_UNKNOWN_FLAGS = True

_INPUT = flags.DEFINE_multi_string(
    "input_pattern", None, "Photo files: a glob on any Beam filesystem (repeat for several)."
)
_OUTPUT = flags.DEFINE_string(
    "output_prefix", None, "Output prefix: PREFIX-*.tfrecord|parquet, PREFIX-failures-*.jsonl."
)
_MODEL = flags.DEFINE_string(
    "model", None, "Registered model name or .keras path/URI (default: the default model)."
)
_FACES = flags.DEFINE_enum("faces", "all", ["all", "one"], "Every face, or face 0 only.")
_FACE = flags.DEFINE_enum(
    "face", DEFAULT_POLICY, list(ONE_FACE_POLICIES), "Which face is face 0 (as facenet-tf embed)."
)
_FLIP = flags.DEFINE_bool("flip", True, "Flip test-time augmentation (as facenet-tf embed).")
_FORMAT = flags.DEFINE_enum("format", "tfrecord", ["tfrecord", "parquet"], "Record format.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Crops per model call.", lower_bound=1)
flags.mark_flags_as_required(["input_pattern", "output_prefix"])


def main(argv: list[str]) -> None:
    """``argv[1:]`` are the Beam options (flags this binary does not define)."""
    try:
        from facenet_tf.pipelines import bulk_embed_lib
    except ImportError as err:  # Beam is an extra
        raise app.UsageError(
            f"bulk-embed needs Apache Beam: pip install 'facenet-tf[beam]' ({err})"
        ) from err

    config = bulk_embed_lib.BulkEmbedConfig(
        input_patterns=tuple(_INPUT.value),
        output_prefix=_OUTPUT.value,
        model=_MODEL.value,
        faces=_FACES.value,
        face=_FACE.value,
        flip=_FLIP.value,
        output_format=_FORMAT.value,
        batch_size=_BATCH.value,
    )
    counts = bulk_embed_lib.run(config, argv[1:])
    failed = {
        k.removeprefix("failures_"): v for k, v in counts.items() if k.startswith("failures_")
    }
    detail = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(failed.items()) if v)
    print(
        f"embedded {counts.get('faces', 0)} faces of {counts.get('photos', 0)} photos -> "
        f"{config.output_prefix}-*.{config.output_format}; {sum(failed.values())} failed"
        + (f" ({detail}) -> {config.output_prefix}-failures-*.jsonl" if detail else "")
    )


def _parse_known(argv: list[str]) -> list[str]:
    return flags.FLAGS(argv, known_only=True)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_known)
