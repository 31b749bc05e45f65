"""A SavedModel for TF Serving and ``tf.saved_model.load`` with three signatures.

* ``embed``: ``images`` uint8 [N, H, W, 3] RGB aligned faces -> ``embeddings`` float32
  [N, D] unit vectors. The cast to float and the model's pixel normalisation run in
  the graph; callers send raw pixels.
* ``embed_quantized``: the same input -> ``codes`` int8 [N, D], the fixed-scale codes of
  ``facenet_tf.export.codes`` (``code = round(clip(x, -r, r) * 127 / r)``, ``x ~= code * r / 127``
  with r = min(1, sqrt(32 / D)) = 0.5 for D = 128):
  D bytes per face, 128 for the usual D = 128.
* ``serving_default``: an alias of ``embed``.

``assets.extra/embedding_contract.json`` (the folder TF Serving leaves alone) records
input size, alignment template and the code scale.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import codes
from facenet_tf.export.model_io import ExportModel

PathLike = str | os.PathLike
SIGNATURES = ("embed", "embed_quantized", "serving_default")
CONTRACT_FILE = "assets.extra/embedding_contract.json"


@dataclasses.dataclass(frozen=True)
class SavedModelConfig:
    """Validated settings of ``facenet-tf export-savedmodel``.

    Attributes:
        model: registered model name or ``.keras`` path.
        output: SavedModel folder to write.
        overwrite: replace an existing folder.
    """

    model: str
    output: str
    overwrite: bool = False

    def __post_init__(self):
        if not self.model:
            raise InvalidInputError("--model is required (a registered name or a .keras file)")
        if not self.output:
            raise InvalidInputError("--output is required (the SavedModel folder to write)")
        out = Path(self.output)
        if out.exists() and not out.is_dir():
            raise InvalidInputError(f"--output {out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not self.overwrite:
            raise InvalidInputError(f"--output {out} is not empty; pass --overwrite to replace it")
        # Before the model is loaded: TensorFlow would fail late, with PermissionDeniedError.
        from facenet_tf.io.files import check_writable

        check_writable(out)


def contract(info: ExportModel) -> dict[str, Any]:
    """The JSON contract stored beside the SavedModel."""
    h, w = info.input_size
    r, scale = codes.code_range(info.embedding_dim), codes.code_scale(info.embedding_dim)
    return {
        "model": info.name,
        "signatures": {
            "embed": {
                "inputs": {"images": f"uint8 [N, {h}, {w}, 3] RGB aligned faces, raw pixels"},
                "outputs": {"embeddings": f"float32 [N, {info.embedding_dim}] unit vectors"},
            },
            "embed_quantized": {
                "inputs": {"images": f"uint8 [N, {h}, {w}, 3] RGB aligned faces, raw pixels"},
                "outputs": {"codes": f"int8 [N, {info.embedding_dim}]"},
                "code_range": r,
                "code_scale": scale,
                "encode": f"code = round(clip(x, -{r:g}, {r:g}) * {scale:g})",
                "decode": f"x ~= code / {scale:g} (then L2-normalise for distances)",
            },
            "serving_default": "alias of embed",
        },
        "pixel_normalization": {
            "baked_in": True,
            "mean": info.pixel_mean,
            "scale": info.pixel_scale,
        },
        "alignment_template": info.align_template,
        "input_size": [h, w],
        "verification_distance": "squared L2 between L2-normalised embeddings",
    }


def export_saved_model(info: ExportModel, output: PathLike, *, overwrite: bool = False) -> Path:
    """Writes the SavedModel of ``info.model`` to ``output``.

    Args:
        info: the model and its metadata.
        output: the folder to create.
        overwrite: remove an existing folder first.

    Returns:
        The SavedModel folder.
    """
    import keras
    import tensorflow as tf

    out = Path(output)
    if out.exists() and overwrite:
        shutil.rmtree(out)
    model = info.model
    spec = tf.TensorSpec([None, *info.input_size, 3], tf.uint8, name="images")

    def embed(images):
        pixels = tf.cast(images, tf.float32)
        return {"embeddings": tf.cast(model(pixels, training=False), tf.float32)}

    def embed_quantized(images):
        return {"codes": codes.quantize_tf(embed(images)["embeddings"])}

    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint also becomes "serving_default".
    archive.add_endpoint("embed", embed, input_signature=[spec])
    archive.add_endpoint("embed_quantized", embed_quantized, input_signature=[spec])
    archive.write_out(os.fspath(out), verbose=False)
    contract_path = out / CONTRACT_FILE
    contract_path.parent.mkdir(parents=True, exist_ok=True)
    contract_path.write_text(json.dumps(contract(info), indent=2) + "\n", encoding="utf-8")
    return out


def run(config: SavedModelConfig) -> Path:
    """Loads ``config.model`` and writes its SavedModel to ``config.output``."""
    from facenet_tf.export import model_io

    return export_saved_model(
        model_io.load(config.model), config.output, overwrite=config.overwrite
    )
