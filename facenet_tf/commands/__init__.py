"""absl binaries behind the facenet-tf subcommands (flags -> facenet_tf.cli_lib)."""
