"""The one-table builder of benchmarks/run_all.py on hand-made results (nothing is run)."""

from __future__ import annotations

from benchmarks import run_all

CPU = "Test CPU, 2 cores"


def _outcome(name, data=None, status="ok", command="python benchmarks/x.py --quick"):
    return run_all.Outcome(name, command, CPU, (0.5, 1.25), status, data)


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in table.splitlines()[2:]]


def test_header_and_separator():
    lines = run_all.build_table([]).splitlines()
    assert lines[0] == "| figure | ours | peer | ratio | machine | load average | command |"
    assert lines[1].count("|") == 8
    assert len(lines) == 2


def test_rate_ratio_is_ours_over_peer():
    data = {"side_by_side": {"images": 16, "ours_faces_per_s": 4.0, "package_faces_per_s": 0.5}}
    (row,) = _rows(run_all.build_table([_outcome("detect_align", data)]))
    assert row == [
        "detect + align LFW, 16 images (crops/s)",
        "4",
        "0.5 (mtcnn package)",
        "8.00x",
        CPU,
        "0.50 / 1.25",
        "`python benchmarks/x.py --quick`",
    ]


def test_time_ratio_is_peer_over_ours():
    data = {
        "rows": [
            {"loss": "semihard", "batch": 1800, "ours_ms": 50.0, "previous_ms": 200.0},
            {"loss": "batch_all", "batch": 1800, "ours_ms": 40.0, "previous_ms": 20.0},
        ]
    }
    rows = _rows(run_all.build_table([_outcome("triplet_loss", data)]))
    assert [r[0] for r in rows] == [
        "triplet loss semihard, B=1800, fwd+bwd (ms)",
        "triplet loss batch_all, B=1800, fwd+bwd (ms)",
    ]
    assert [r[1:4] for r in rows] == [
        ["50", "200 (previous implementation)", "4.00x"],
        ["40", "20 (previous implementation)", "0.50x"],
    ]


def test_csv_rows_one_figure_per_batch():
    data = [
        {"implementation": "dlib compute_face_descriptor", "batch_size": "1", "faces_per_s": "20"},
        {"implementation": "facenet_tf keras (XLA)", "batch_size": "1", "faces_per_s": "30"},
        {"implementation": "dlib compute_face_descriptor", "batch_size": "16", "faces_per_s": "25"},
        {"implementation": "facenet_tf keras (XLA)", "batch_size": "16", "faces_per_s": "100"},
    ]
    rows = _rows(run_all.build_table([_outcome("embed_vs_dlib", data)]))
    assert [r[3] for r in rows] == ["1.50x", "4.00x"]
    assert rows[1][1:3] == ["100", "25 (dlib compute_face_descriptor)"]


def test_no_peer_shows_dashes():
    data = {"flip_cost": {"photos": 50, "photos_per_second": {"flip=False": 8.5, "flip=True": 5.0}}}
    help_data = {"seconds": [3.2, 2.9, 3.0]}
    rows = _rows(
        run_all.build_table(
            [_outcome("lfw_default_model", data), _outcome("embed_help", help_data)]
        )
    )
    assert [r[1:4] for r in rows] == [["8.5", "-", "-"], ["5", "-", "-"], ["2.9", "-", "-"]]
    assert rows[2][0] == "`facenet-tf embed --help` wall time, best of 3 (s)"


def test_missing_peer_and_failure_rows():
    table = run_all.build_table(
        [
            _outcome("embed_vs_dlib", status="peer unavailable (no module dlib)"),
            _outcome("detect_photos", status="failed: ValueError: a | b"),
        ]
    )
    unavailable, failed = _rows(table.replace("\\|", "/"))
    assert unavailable[1:4] == ["-", "peer unavailable (no module dlib)", "-"]
    assert failed[1:4] == ["failed: ValueError: a / b", "-", "-"]
    assert "a \\| b" in table  # a pipe in the message does not split the cell


def test_peer_missing_from_result():
    data = [{"implementation": "facenet_tf keras (XLA)", "batch_size": "1", "faces_per_s": "30"}]
    (row,) = _rows(run_all.build_table([_outcome("embed_vs_dlib", data)]))
    assert row[1:4] == ["30", "-", "-"]


def test_embed_photos_row_is_ours_over_the_serial_call():
    data = {
        "photos": 384,
        "photos_per_second": {"ours": 90.0, "serial": 60.0},
        "max_abs_vector_difference": 0.0,
    }
    (row,) = _rows(run_all.build_table([_outcome("embed_photos", data)]))
    assert row[0].startswith("facenet_tf.embed(paths), defaults (flip), 384 LFW view-2 photos")
    assert row[1:4] == ["90", "60 (same call, no prefetch)", "1.50x"]
