"""absl binaries behind the facenet-tf subcommands (flags -> facenet_tf.cli_lib)."""

from absl import flags


def define_model_flags():
    """Defines --model, --batch_size and --aligned, shared by the embedding subcommands.

    Called at import time of the one subcommand module that is run.

    Returns:
        (model, batch_size, aligned) FlagHolders.
    """
    model = flags.DEFINE_string("model", None, "Registered model name or .keras path.")
    batch = flags.DEFINE_integer("batch_size", 64, "Images per forward pass.", lower_bound=1)
    aligned = flags.DEFINE_bool("aligned", False, "Inputs are aligned crops: skip detection.")
    return model, batch, aligned
