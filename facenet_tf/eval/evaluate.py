r"""LFW evaluation binary: 10-fold verification, VAL at FAR, ROC, identification, clustering.

    python -m facenet_tf.eval.evaluate \
        --lfw_dir=../shared/data/lfw/lfw-deepfunneled --pairs=../shared/data/lfw/pairs.txt \
        --workdir=/tmp/eval_nn4

Writes ``report.json``, ``roc.png`` and ``clusters.png`` to ``--workdir``; embeddings
are cached there by model weights and image content, so a re-run is fast. ``--lfw_dir``
is the LFW image tree itself; the pair files are named separately.
"""

from __future__ import annotations

from absl import app, flags

from facenet_tf.align.face_align import DEFAULT_POLICY, ONE_FACE_POLICIES
from facenet_tf.distances import DISTANCES
from facenet_tf.errors import InvalidInputError
from facenet_tf.eval import evaluate_lib
from facenet_tf.face_pipeline import DEFAULT_FLIP

MODEL = flags.DEFINE_string(
    "model", None, "Registered model name or .keras path (default: the default model)."
)
LFW_DIR = flags.DEFINE_string("lfw_dir", None, "LFW image tree ({Name}/{Name}_{NNNN}.jpg).")
PAIRS = flags.DEFINE_string("pairs", None, "LFW view-2 pairs.txt.")
WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where report.json, the PNGs and the embedding cache go."
)
DISTANCE = flags.DEFINE_enum("distance", "squared_l2", DISTANCES, "Pair distance.")
FAR = flags.DEFINE_float("far", 1e-3, "False-accept rate for VAL.")
FACE = flags.DEFINE_enum(
    "face", DEFAULT_POLICY, list(ONE_FACE_POLICIES), "Which face of a photo is embedded."
)
FLIP = flags.DEFINE_bool("flip", DEFAULT_FLIP, "Flip test-time augmentation (as embed).")
ALIGNED = flags.DEFINE_bool("aligned", False, "Images are aligned crops: skip detection.")
ON_NO_FACE = flags.DEFINE_enum(
    "on_no_face", "whole_image", list(evaluate_lib.NO_FACE_POLICIES),
    "When no face is detected: embed the whole image (counted in the report), or fail.",
)  # fmt: skip
BATCH = flags.DEFINE_integer("batch_size", 64, "Images per embedding call.")
CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Embedding cache ('' = WORKDIR/embedding_cache).")
DEV_TRAIN = flags.DEFINE_string("dev_train_pairs", "", "View-1 pairsDevTrain.txt (optional).")
DEV_TEST = flags.DEFINE_string("dev_test_pairs", "", "View-1 pairsDevTest.txt (optional).")
IDENT = flags.DEFINE_bool("identification", False, "Identification over every LFW image.")
CLUSTER = flags.DEFINE_bool("clustering", True, "Cluster identities with several images.")
MIN_IMAGES = flags.DEFINE_integer("cluster_min_images", 6, "Images per clustered identity.")
PLOT_IDS = flags.DEFINE_integer("plot_identities", 8, "Identities in the 2-D cluster plot.")
PROJECTION = flags.DEFINE_enum("projection", "pca", ["pca", "tsne"], "2-D projection.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of k-means and t-SNE.")
PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.")


def config_from_flags() -> evaluate_lib.EvalConfig:
    """The validated config the flags describe."""
    return evaluate_lib.EvalConfig(
        model=MODEL.value or "",
        lfw_dir=LFW_DIR.value or "",
        pairs=PAIRS.value or "",
        workdir=WORKDIR.value or "",
        distance=DISTANCE.value,
        far_target=FAR.value,
        face=FACE.value,
        flip=FLIP.value,
        aligned=ALIGNED.value,
        on_no_face=ON_NO_FACE.value,
        batch_size=BATCH.value,
        cache_dir=CACHE_DIR.value,
        dev_train_pairs=DEV_TRAIN.value,
        dev_test_pairs=DEV_TEST.value,
        identification=IDENT.value,
        clustering=CLUSTER.value,
        cluster_min_images=MIN_IMAGES.value,
        plot_identities=PLOT_IDS.value,
        projection=PROJECTION.value,
        seed=SEED.value,
        progress=PROGRESS.value,
    ).validate()


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags()
    except InvalidInputError as err:  # a bad flag: usage message, not a traceback
        raise app.UsageError(str(err)) from None
    rep = evaluate_lib.run(config)
    print("\n".join(evaluate_lib.summary_lines(rep)))


if __name__ == "__main__":
    app.run(main)
