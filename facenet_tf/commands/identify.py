"""``facenet-tf identify``: nearest gallery identity for each query photo.

The gallery is a ``{identity}/{image}`` folder tree; an identity folder without images is
reported and skipped. Output rows (.csv or .json, by the --output suffix): query, label
(or "unknown"), distance, and the k neighbours as JSON. Inputs that gave no face
(unreadable files, broken links, photos with no detectable face, empty identity folders)
are listed with the reason in <output>.failures.csv; a run without failures removes an
old one.
"""

from absl import app, flags

from facenet_tf.commands import define_model_flags

_QUERY = flags.DEFINE_list("query", None, "Query image files and/or folders.")
_GALLERY = flags.DEFINE_string("gallery_dir", None, "Folder of identity folders.")
_OUTPUT = flags.DEFINE_string(
    "output",
    "identities.csv",
    "Output file: .csv or .json; failures go to <output>.failures.csv.",
)
_K = flags.DEFINE_integer("k", 1, "Neighbours to report.", lower_bound=1)
_THRESHOLD = flags.DEFINE_float("threshold", None, "Squared-L2 'unknown' threshold.")
_FAR = flags.DEFINE_float(
    "far", None, "'unknown' beyond the threshold at this calibrated false-accept rate (e.g. 1e-3)."
)
_PIPELINE = define_model_flags()
flags.mark_flags_as_required(["query", "gallery_dir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import json

    from facenet_tf import cli_lib
    from facenet_tf.tasks import decision_threshold, identify

    out = cli_lib.check_output(_OUTPUT.value)
    # checked before any photo is embedded: both given, or a FAR that is not calibrated
    decision_threshold(_THRESHOLD.value, _FAR.value, _PIPELINE.model.value)
    g_paths, g_labels, g_empty = cli_lib.gallery_from_folders(_GALLERY.value)
    q_paths = cli_lib.collect_images(_QUERY.value)
    pipeline = _PIPELINE.pipeline()
    g_done, g_vec, g_fail = cli_lib.embed_files(g_paths, pipeline, _PIPELINE.aligned.value)
    label_of = dict(zip(map(str, g_paths), g_labels, strict=True))
    labels = [label_of[str(p)] for p in g_done]
    q_done, q_vec, q_fail = cli_lib.embed_files(q_paths, pipeline, _PIPELINE.aligned.value)
    results = identify(
        q_vec,
        g_vec,
        labels,
        k=_K.value,
        threshold=_THRESHOLD.value,
        model=pipeline.embedder,
        far=_FAR.value,
    )
    rows = [
        [str(p), r["label"], r["distance"], json.dumps(r["neighbors"])]
        for p, r in zip(q_done, results, strict=True)
    ]
    cli_lib.write_rows(out, ["query", "label", "distance", "neighbors"], rows)
    failures = g_empty + g_fail + q_fail
    manifest = cli_lib.write_failures(out, failures)
    tail = cli_lib.failure_summary(failures, manifest)
    print(f"identified {len(rows)} queries against {len(g_done)} gallery images -> {out}{tail}")


if __name__ == "__main__":
    app.run(main)
