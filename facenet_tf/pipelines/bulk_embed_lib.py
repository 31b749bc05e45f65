"""Library behind ``facenet-tf bulk-embed``: the Apache Beam pipeline (no flags here).

match files -> read bytes -> decode -> detect + align (batched across photos) -> embed
with Beam's ``RunInference`` -> write records; failures to ``PREFIX-failures-*.jsonl``.

The embedding step is Beam's own ``TFModelHandlerTensor`` on the model's ``.keras`` file
(wrapped in a ``KeyedModelHandler``: the key carries path, face index, box, landmarks
and score), with ``stages.embed_batch`` as its ``inference_fn`` so that crops go through
``FacePipeline.embed_crops``, flip test-time augmentation included, exactly as
``facenet_tf.embed`` does. Why not a handler of ours on the exported SavedModel's
``embed`` signature: on 40 CelebA photos with the default model both give the vectors of
``facenet_tf.embed`` (max abs difference 1.3e-8 each, docs/bulk.md), so the choice rests
on the rest: Beam's handler is Beam's code, the ``.keras`` file is what ``--model``
takes everywhere and records the model's name, and float crops reach the model as they
are for every model, where the signature's uint8 input would round the resized crops of
a model whose template side differs from its input size.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence

from facenet_tf.errors import InvalidInputError

FACES = ("all", "one")
FORMATS = ("tfrecord", "parquet")
MODEL_FILE_SUFFIX = "-model.keras"
FAILURES_SUFFIX = "-failures"


@dataclasses.dataclass(frozen=True)
class BulkEmbedConfig:
    """What a bulk-embed run does.

    Attributes:
        input_patterns: file globs (any Beam filesystem: local, gs://, s3://, hdfs://).
        output_prefix: records go to ``PREFIX-SSSSS-of-NNNNN.tfrecord`` (or ``.parquet``),
            failures to ``PREFIX-failures-SSSSS-of-NNNNN.jsonl``.
        model: registered name or ``.keras`` path/URI; None is the default model.
        faces: "all" (every face, face 0 first) or "one" (face 0 only).
        face: the one-face policy that decides face 0 (``facenet_tf.embed``'s ``face``).
        flip: flip test-time augmentation (``facenet_tf.embed``'s ``flip``).
        output_format: "tfrecord" or "parquet".
        batch_size: crops per model call.
    """

    input_patterns: tuple[str, ...]
    output_prefix: str
    model: str | None = None
    faces: str = "all"
    face: str = "center_weighted"
    flip: bool = True
    output_format: str = "tfrecord"
    batch_size: int = 64

    def __post_init__(self):
        from facenet_tf.face_choice import ONE_FACE_POLICIES

        if not self.input_patterns or not all(self.input_patterns):
            raise InvalidInputError("--input_pattern: give at least one file pattern")
        if not self.output_prefix:
            raise InvalidInputError("--output_prefix: give an output location")
        for name, value, allowed in (
            ("--faces", self.faces, FACES),
            ("--format", self.output_format, FORMATS),
            ("--face", self.face, ONE_FACE_POLICIES),
        ):
            if value not in allowed:
                raise InvalidInputError(f"{name} must be one of {allowed}, got {value!r}")
        if self.batch_size < 1:
            raise InvalidInputError(f"--batch_size must be >= 1, got {self.batch_size}")


def check_inputs(patterns: Sequence[str]) -> None:
    """Refuses, before any work, a pattern that matches no file (named)."""
    from apache_beam.io.filesystems import FileSystems

    for pattern, result in zip(patterns, FileSystems.match(list(patterns)), strict=True):
        if not result.metadata_list:
            raise InvalidInputError(f"--input_pattern {pattern}: no files match")


def prepare_model(config: BulkEmbedConfig) -> tuple[str, str]:
    """The ``.keras`` URI the workers load, and the model's name for the records.

    A ``.keras`` file is used where it is; a registered name is saved once to
    ``PREFIX-model.keras`` beside the output (so remote workers can read it).
    """
    import keras
    from apache_beam.io.filesystems import FileSystems

    from facenet_tf.inference import load_model
    from facenet_tf.models.registry import default_model_name
    from facenet_tf.models.spec import spec_of

    name = config.model or default_model_name()
    if name.endswith(".keras"):
        import facenet_tf.models  # noqa: F401  (custom layers)

        if not FileSystems.exists(name):
            raise InvalidInputError(f"--model {name}: no such file")
        return name, spec_of(keras.saving.load_model(name, compile=False)).name
    model = load_model(name)
    uri = config.output_prefix + MODEL_FILE_SUFFIX
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "model.keras")
        model.save(local)
        with open(local, "rb") as src, FileSystems.create(uri) as dst:
            shutil.copyfileobj(src, dst)
    return uri, spec_of(model).name


def build(pipeline, config: BulkEmbedConfig, model_uri: str, model_name: str) -> None:
    """Adds the bulk-embed transforms to a ``beam.Pipeline``."""
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

    from facenet_tf.data import embeddings_io
    from facenet_tf.face_pipeline import CHUNK_PIXELS
    from facenet_tf.pipelines import stages

    files = (
        pipeline
        | "Patterns" >> beam.Create(list(config.input_patterns))
        | "Match" >> fileio.MatchAll()
        | "Files" >> beam.Map(lambda m: (m.path, int(m.size_in_bytes)))
        | "Once" >> beam.Distinct()  # a file two patterns match is embedded once
    )
    decoded = files | "ReadDecode" >> beam.ParDo(stages.ReadAndDecode()).with_outputs(
        stages.FAILURES, main="photos"
    )
    faces = (
        decoded.photos
        | "BatchPhotos"
        # Batches are counted in pixels: at most CHUNK_PIXELS decoded pixels at a time,
        # as FacePipeline's chunks, however large the photos.
        >> beam.BatchElements(
            min_batch_size=1, max_batch_size=CHUNK_PIXELS, element_size_fn=stages.photo_pixels
        )
        | "DetectAlign"
        >> beam.ParDo(
            stages.DetectAndAlign(model_uri, config.face, 1 if config.faces == "one" else None)
        ).with_outputs(stages.FAILURES, main="faces")
    )
    handler = TFModelHandlerTensor(
        model_uri,
        inference_fn=functools.partial(
            stages.embed_batch, face=config.face, flip=config.flip, batch_size=config.batch_size
        ),
        min_batch_size=1,
        max_batch_size=config.batch_size,
    )
    records = (
        faces.faces
        | "Embed" >> RunInference(KeyedModelHandler(handler))
        | "Record" >> beam.Map(stages.to_record, model_name=model_name)
    )
    prefix = config.output_prefix
    if config.output_format == "parquet":
        _ = records | "WriteParquet" >> beam.io.WriteToParquet(
            prefix, embeddings_io.parquet_schema(), file_name_suffix=".parquet"
        )
    else:
        _ = (
            records
            | "Example" >> beam.Map(embeddings_io.record_example)
            | "WriteTFRecord" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=".tfrecord")
        )
    _ = (
        (decoded[stages.FAILURES], faces[stages.FAILURES])
        | "Failures" >> beam.Flatten()
        | "FailureJson" >> beam.Map(lambda f: json.dumps(f, sort_keys=True))
        | "WriteFailures"
        >> beam.io.WriteToText(prefix + FAILURES_SUFFIX, file_name_suffix=".jsonl")
    )


def counters(result) -> dict[str, int]:
    """The run's counters (photos, faces, failures_<kind>), summed over steps."""
    from apache_beam.metrics.metric import MetricsFilter

    from facenet_tf.pipelines.stages import NAMESPACE

    totals: dict[str, int] = {}
    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    for c in found:
        value = c.committed if c.committed is not None else c.attempted
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + int(value or 0)
    return totals


def local_runner(options):
    """The runner for ``--runner=DirectRunner`` (or no ``--runner``): Beam's in-process
    FnApiRunner, which honours ``--direct_num_workers`` and ``--direct_running_mode``.

    Beam 2.77's DirectRunner first tries its Prism runner, which downloads a binary at run
    time when it is not installed (and otherwise runs the job in another engine); a bulk
    job here must neither reach the network nor change engines with the machine. Other
    runners (Dataflow, Flink, Spark, Portable) are Beam's, unchanged (returns None).
    """
    from apache_beam.options.pipeline_options import StandardOptions

    name = options.view_as(StandardOptions).runner
    if name is not None and (not isinstance(name, str) or name.lower() != "directrunner"):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(info))


def run(config: BulkEmbedConfig, beam_args: Sequence[str] = ()) -> dict[str, int]:
    """Runs the pipeline to the end with Beam options ``beam_args`` and returns its
    counters.

    Raises:
        InvalidInputError: a pattern matches nothing, an unknown Beam option, or a bad
            model.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(beam_args))
    every = options.get_all_options(retain_unknown_options=True)
    known = options.get_all_options()
    unknown = sorted(set(every) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown flags (neither ours nor Beam's): {unknown}")
    check_inputs(config.input_patterns)
    model_uri, model_name = prepare_model(config)
    pipeline = beam.Pipeline(runner=local_runner(options), options=options)
    build(pipeline, config, model_uri, model_name)
    result = pipeline.run()
    result.wait_until_finish()
    return counters(result)
