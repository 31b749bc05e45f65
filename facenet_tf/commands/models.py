"""``facenet-tf models``: the model zoo, our parameter/FLOP counts beside the paper's."""

from absl import app, flags

_NAMES = flags.DEFINE_list("names", None, "Models to list (default: all registered).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from facenet_tf.models.table import format_table, model_table

    print(format_table(model_table(_NAMES.value)))


if __name__ == "__main__":
    app.run(main)
