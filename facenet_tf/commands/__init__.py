"""absl binaries behind the facenet-tf subcommands: flags -> cli_lib or facenet_tf.export."""

from __future__ import annotations

import dataclasses

from absl import flags

from facenet_tf.face_choice import DEFAULT_POLICY, ONE_FACE_POLICIES


@dataclasses.dataclass(frozen=True)
class PipelineFlags:
    """The face-pipeline flags shared by the embedding subcommands."""

    model: flags.FlagHolder
    batch_size: flags.FlagHolder
    aligned: flags.FlagHolder
    face: flags.FlagHolder
    flip: flags.FlagHolder

    def pipeline(self):
        """The ``FacePipeline`` the flags describe. A photo with no detectable face gets a
        NaN row (``on_no_face="nan"``), which ``cli_lib.embed_files`` turns into a failure:
        the commands never write a vector for a face that was not found."""
        from facenet_tf.face_pipeline import FacePipeline

        return FacePipeline(
            self.model.value, face=self.face.value, flip=self.flip.value,
            batch_size=self.batch_size.value, on_no_face="nan",
        )  # fmt: skip


def define_model_flags() -> PipelineFlags:
    """Defines --model, --batch_size, --aligned, --face and --flip (``facenet_tf.embed``'s
    arguments, same defaults), shared by the embedding subcommands.

    Called at import time of the one subcommand module that is run.
    """
    return PipelineFlags(
        model=flags.DEFINE_string(
            "model", None, "Registered model name or .keras path (default: the default model)."
        ),
        batch_size=flags.DEFINE_integer(
            "batch_size", 64, "Images per forward pass.", lower_bound=1
        ),
        aligned=flags.DEFINE_bool("aligned", False, "Inputs are aligned crops: skip detection."),
        face=flags.DEFINE_enum(
            "face",
            DEFAULT_POLICY,
            list(ONE_FACE_POLICIES),
            "Which face of a photo: the largest unless a smaller one is much nearer the "
            "centre (center_weighted), the largest, or the most central.",
        ),  # fmt: skip
        flip=flags.DEFINE_bool(
            "flip", True, "Flip test-time augmentation: average with the mirrored crop."
        ),
    )
