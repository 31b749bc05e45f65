"""Which model handler bulk-embed's RunInference uses: parity of Beam's
``TFModelHandlerTensor`` on the ``.keras`` file and of the exported SavedModel's ``embed``
signature (uint8 crops) with ``facenet_tf.embed``, on the first 40 CelebA in-the-wild
photos, default model, flip averaging as ``FacePipeline.embed_crops``.

    nice -n 10 python benchmarks/bulk_embed_handlers.py

Writes benchmarks/results/bulk_embed_handlers.json.
"""

import json
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

import facenet_tf
from facenet_tf.distances import l2_normalize
from facenet_tf.export.saved_model import ExportModel, export_saved_model
from facenet_tf.face_pipeline import FacePipeline
from facenet_tf.inference import load_model
from facenet_tf.io.images import read_image
from facenet_tf.models.registry import default_model_name
from facenet_tf.models.spec import spec_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba" / "wild"


def main() -> None:
    paths = [str(p) for p in sorted(DATA.glob("*/*.jpg"))[:40]]
    ref = facenet_tf.embed(paths)
    faces = FacePipeline().face_crops([read_image(p) for p in paths], max_faces=1)
    crops = np.stack([f[0][1] for f in faces])
    tmp = tempfile.mkdtemp()
    model = load_model(default_model_name())
    model.save(f"{tmp}/m.keras")
    beam_model = TFModelHandlerTensor(f"{tmp}/m.keras").load_model()

    def run_keras(x):
        return np.asarray(beam_model(tf.constant(x), training=False))

    export_saved_model(ExportModel(model, spec_of(model), None, None), f"{tmp}/sm")
    embed_sig = tf.saved_model.load(f"{tmp}/sm").signatures["embed"]

    def run_saved(x):
        u8 = np.clip(np.round(x), 0, 255).astype(np.uint8)
        return embed_sig(images=tf.constant(u8))["embeddings"].numpy()

    rows = {}
    for name, fn in (("beam_keras_handler", run_keras), ("savedmodel_embed_uint8", run_saved)):
        got = l2_normalize(fn(crops) + fn(np.ascontiguousarray(crops[:, :, ::-1])))
        rows[name] = {
            "max_abs_vs_embed": float(np.abs(got - ref).max()),
            "min_cosine_vs_embed": float((got * ref).sum(1).min()),
        }
        print(f"{name:<24} max abs {rows[name]['max_abs_vs_embed']:.2e}  "
              f"min cosine {rows[name]['min_cosine_vs_embed']:.9f}")  # fmt: skip
    crops_integral = bool(np.array_equal(crops, np.round(crops)))
    print(f"crops already whole pixel values: {crops_integral}")
    out = Path(__file__).parent / "results" / "bulk_embed_handlers.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"model": default_model_name(), "photos": len(paths),
                               "crops_integral": crops_integral, **rows}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
