"""``facenet-tf bulk-embed``: the binary ``python -m facenet_tf.pipelines.bulk_embed``."""

from facenet_tf.pipelines.bulk_embed import PASS_UNKNOWN_FLAGS, main

__all__ = ["PASS_UNKNOWN_FLAGS", "main"]
