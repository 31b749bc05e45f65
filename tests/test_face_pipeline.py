"""FacePipeline: face choice, crops, flip test-time augmentation, chunking, template warps.

References are independent of the pipeline: the face-choice rule written out in numpy,
crops cut by hand from the detector's landmarks with ``umeyama`` + ``warp``, and the
flip average computed from the bare ``Embedder``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facenet_tf
from facenet_tf.align import Face, align, get_template, order_faces, select_faces
from facenet_tf.align.detector import default_detector
from facenet_tf.align.transform import umeyama, warp
from facenet_tf.errors import InvalidInputError
from facenet_tf.face_pipeline import FacePipeline, describe
from facenet_tf.io.images import read_image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "faces"
FILES = sorted(str(p) for p in EXAMPLES.glob("*/*.jpg"))


def _face(x1, y1, x2, y2, score=0.99) -> Face:
    return Face((x1, y1, x2, y2), score, np.zeros((5, 2)))


# --- face choice ----------------------------------------------------------------------


def _center_weighted_reference(faces, shape):
    """FaceNet's reference alignment script: argmax(area - 2 * squared centre offset)."""
    det = np.array([f.box for f in faces])
    area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
    centre = (np.array(shape[:2]) - 1) / 2.0
    offsets = np.stack(
        [(det[:, 0] + det[:, 2]) / 2 - centre[1], (det[:, 1] + det[:, 3]) / 2 - centre[0]]
    )
    return int(np.argmax(area - 2.0 * np.sum(offsets**2, axis=0)))


def test_center_weighted_matches_the_reference_rule():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 6))
        xy = rng.uniform(0, 400, size=(n, 2))
        side = rng.uniform(10, 120, size=n)
        faces = [_face(x, y, x + s, y + s) for (x, y), s in zip(xy, side, strict=True)]
        shape = (int(rng.integers(200, 600)), int(rng.integers(200, 600)), 3)
        chosen = select_faces(faces, shape, "center_weighted")[0]
        assert chosen is faces[_center_weighted_reference(faces, shape)]


def test_center_weighted_prefers_a_central_face_over_a_slightly_larger_corner_face():
    shape = (250, 250, 3)
    central = _face(95, 95, 155, 155)  # 60 px, centred
    corner = _face(0, 0, 64, 64)  # 64 px, far from the centre
    assert select_faces([corner, central], shape, "largest")[0] is corner
    assert select_faces([corner, central], shape, "center_weighted")[0] is central


def test_order_faces_puts_the_chosen_face_first_then_by_score():
    shape = (250, 250, 3)
    faces = [
        _face(0, 0, 30, 30, 0.99),
        _face(100, 100, 160, 160, 0.95),
        _face(200, 0, 240, 40, 0.9),
    ]
    ordered = order_faces(faces, shape, "center_weighted")
    assert ordered[0] is faces[1] and ordered[1:] == [faces[0], faces[2]]


def test_unknown_face_policy_is_refused():
    with pytest.raises(InvalidInputError, match="face must be one of"):
        FacePipeline("dlib_resnet_v1", face="all")


# --- crops and vectors on real photos ---------------------------------------------------


@pytest.fixture(scope="module")
def plain() -> FacePipeline:
    return FacePipeline("dlib_resnet_v1", flip=False)


def test_crops_are_the_chosen_faces_aligned_to_the_model_template(plain):
    template = get_template("dlib_150")
    paths = FILES[:4]
    crops = plain.crops(paths)
    assert crops.pixels.shape == (4, 150, 150, 3) and not crops.no_face.any()
    for path, got in zip(paths, crops.pixels, strict=True):
        image = read_image(path)
        faces = default_detector().detect_faces([image])[0]
        face = faces[_center_weighted_reference(faces, image.shape)]
        want = warp(image, umeyama(face.landmarks, template.scaled(150)), 150)
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_flip_is_the_unit_mean_of_crop_and_mirror(plain):
    flipped = FacePipeline(plain.embedder, flip=True)
    pixels = plain.crops(FILES[:3]).pixels
    a = plain.embedder.embed_pixels(pixels)
    b = plain.embedder.embed_pixels(np.ascontiguousarray(pixels[:, :, ::-1]))
    want = (a + b) / np.linalg.norm(a + b, axis=1, keepdims=True)
    np.testing.assert_allclose(flipped.embed(FILES[:3]), want, atol=1e-6)
    np.testing.assert_allclose(plain.embed(FILES[:3]), a, atol=1e-6)


def test_embed_defaults_are_the_pipeline_defaults():
    got = facenet_tf.embed(FILES[:3])
    want = FacePipeline().embed(FILES[:3])
    np.testing.assert_array_equal(got, want)
    settings = describe(FacePipeline())
    assert settings["face"] == "center_weighted" and settings["flip"] is True


def test_chunks_do_not_change_the_result(plain):
    small = FacePipeline(plain.embedder, flip=False, chunk_size=3, batch_size=2)
    # Same crops; only the model's batch size differs, which changes float32 summation
    # order in some kernel sets (oneDNN off: 1.8e-7 on unit vectors).
    np.testing.assert_allclose(small.embed(FILES[:7]), plain.embed(FILES[:7]), rtol=0, atol=1e-6)


def test_embed_faces_face_zero_is_what_embed_uses(plain):
    faces = plain.embed_faces(FILES[:5])
    assert [len(f) >= 1 for f in faces] == [True] * 5
    first = np.stack([f[0].embedding for f in faces])
    np.testing.assert_allclose(first, plain.embed(FILES[:5]), atol=1e-6)
    assert all(f.face_index == k for fs in faces for k, f in enumerate(fs))


def test_crops_of_another_template_are_warped_onto_the_model_template(plain):
    # facenet_160 crops of the photos, re-warped to dlib_150 by the pipeline, land close to
    # the dlib_150 crops cut from the photos directly (two bilinear resamplings apart).
    direct = plain.crops(FILES[:4]).pixels
    facenet_crops = [align(p, template="facenet_160")[0] for p in FILES[:4]]
    rewarped = plain.crops(facenet_crops, aligned=True, source_template="facenet_160").pixels
    assert np.median(np.abs(rewarped - direct)) < 6.0
    vectors_direct = plain.embed_crops(direct)
    vectors_rewarped = plain.embed_crops(rewarped)
    assert np.min(np.sum(vectors_direct * vectors_rewarped, axis=1)) > 0.97


# --- defaults that cannot give a plausible wrong answer --------------------------------


def _gradient(path: Path) -> str:
    import cv2

    ramp = np.tile(np.linspace(0, 255, 120, dtype=np.uint8)[None, :, None], (90, 1, 3))
    cv2.imwrite(str(path), ramp)
    return str(path)


def test_no_face_raises_by_default_naming_the_file(tmp_path):
    from facenet_tf.errors import NoFaceError

    blank = _gradient(tmp_path / "gradient.png")
    with pytest.raises(NoFaceError, match="gradient.png") as err:
        facenet_tf.embed([FILES[0], blank])
    assert err.value.names == (blank,)


def test_no_face_nan_marks_the_row_and_warns_naming_the_file(tmp_path):
    blank = _gradient(tmp_path / "gradient.png")
    with pytest.warns(facenet_tf.FaceNotFoundWarning, match="gradient.png"):
        out = facenet_tf.embed([FILES[0], blank], on_no_face="nan")
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    # The marker cannot pass for a face downstream.
    with pytest.raises(InvalidInputError):
        facenet_tf.verify(out[0], out[1])


def test_untrained_models_are_refused_by_name_unless_allowed():
    from facenet_tf.errors import UntrainedModelError

    crops = np.zeros((2, 96, 96, 3), np.uint8)
    with pytest.raises(UntrainedModelError, match="nn4"):
        facenet_tf.embed(crops, model="nn4", aligned=True)
    with pytest.raises(UntrainedModelError, match="nn4"):
        facenet_tf.verify(crops[0], crops[1], model="nn4", aligned=True)
    out = facenet_tf.embed(crops, model="nn4", aligned=True, allow_untrained=True)
    assert out.shape == (2, 128)


def test_large_photos_are_detected_on_a_copy_and_cropped_at_full_resolution(plain):
    import cv2

    from facenet_tf import face_pipeline

    image = read_image(FILES[0])
    big = cv2.resize(image, (2600, 2600), interpolation=cv2.INTER_CUBIC)  # > 2048: scaled
    assert max(big.shape) > face_pipeline.MAX_DETECTION_SIDE
    small_face = plain._detect([image])[0]
    big_face = plain._detect([big])[0]
    i = _center_weighted_reference(small_face, image.shape)
    j = _center_weighted_reference(big_face, big.shape)
    # Exactly the detections of the 2048-pixel copy, mapped by pixel centres.
    copy = cv2.resize(big, (2048, 2048), interpolation=cv2.INTER_AREA)
    ref = default_detector().detect_faces([copy])[0]
    k = _center_weighted_reference(ref, copy.shape)
    s = 2600 / 2048
    np.testing.assert_allclose(big_face[j].landmarks, (ref[k].landmarks + 0.5) * s - 0.5)
    np.testing.assert_allclose(big_face[j].box, (np.array(ref[k].box) + 0.5) * s - 0.5)
    # And near the original photo's landmarks scaled by 10.4 (MTCNN at another scale:
    # within 10% of the eye distance).
    want = (small_face[i].landmarks + 0.5) * (2600 / 250) - 0.5
    eyes = np.linalg.norm(want[0] - want[1])
    assert np.abs(big_face[j].landmarks - want).max() < 0.10 * eyes
    a, b = plain.embed([image, big])
    assert float(a @ b) > 0.98


def test_aligned_crop_files_must_record_the_models_template(plain, tmp_path):
    import cv2

    from facenet_tf.align.provenance import embed_template

    crops = {t: align(FILES[0], template=t)[0] for t in ("facenet_160", "dlib_150")}
    files = {}
    for template, crop in crops.items():
        encoded = cv2.imencode(".png", crop[..., ::-1])[1].tobytes()
        files[template] = tmp_path / f"{template}.png"
        files[template].write_bytes(embed_template(encoded, template))
    plain_file = tmp_path / "unrecorded.png"
    plain_file.write_bytes(cv2.imencode(".png", crops["dlib_150"][..., ::-1])[1].tobytes())

    with pytest.raises(facenet_tf.TemplateMismatchError, match="facenet_160.png"):
        plain.embed([str(files["facenet_160"])], aligned=True)
    ok = plain.embed([str(files["dlib_150"])], aligned=True)
    np.testing.assert_allclose(ok, plain.embed_crops(crops["dlib_150"][None]), atol=1e-6)
    with pytest.warns(facenet_tf.TemplateUnknownWarning, match="unrecorded.png"):
        plain.embed([str(plain_file)], aligned=True)
    # Crops of another template are fine when the caller says which, to be re-warped.
    plain.embed([str(files["facenet_160"])], aligned=True, source_template="facenet_160")


def test_embed_streams_bounded_chunks(plain, monkeypatch):
    from facenet_tf import face_pipeline

    seen = []
    original = FacePipeline._detect_crops

    def spy(self, names, rgb, aligned, source_template):
        seen.append((len(rgb), sum(im.shape[0] * im.shape[1] for im in rgb)))
        return original(self, names, rgb, aligned, source_template)

    monkeypatch.setattr(FacePipeline, "_detect_crops", spy)
    small = FacePipeline(plain.embedder, flip=False, chunk_size=4)
    out = small.embed(FILES[:10])
    assert [n for n, _ in seen] == [4, 4, 2] and out.shape == (10, 128)
    # The pixel budget splits chunks of large photos whatever chunk_size says.
    seen.clear()
    monkeypatch.setattr(face_pipeline, "CHUNK_PIXELS", 2 * 250 * 250)
    FacePipeline(plain.embedder, flip=False, chunk_size=64).embed(FILES[:5])
    assert [n for n, _ in seen] == [2, 2, 1]


def test_progress_bar_only_when_asked_or_long_on_a_terminal(plain, capsys):
    plain.embed(FILES[:2], progress=True)
    assert "photo" in capsys.readouterr().err
    plain.embed(FILES[:2])  # short, and pytest's stderr is not a terminal
    assert capsys.readouterr().err == ""


# --- background prefetch and golden embeddings --------------------------------------------

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "pipeline_golden" / "lfw_50.npz"


def test_in_background_keeps_order_raises_in_turn_and_stops_its_thread():
    import threading

    from facenet_tf.face_pipeline import _in_background

    for depth in (0, 1, 3):
        assert list(_in_background(iter(range(20)), depth)) == list(range(20))

    def failing():
        yield 1
        yield 2
        raise ValueError("item 3 is bad")

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for item in _in_background(failing(), 1):
            got.append(item)
    assert got == [1, 2]

    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    stream = _in_background(endless(), 2)
    assert next(stream) == 0
    stream.close()  # the consumer stops early: the thread ends, having run ahead <= 3
    assert not any(t.name == "face-pipeline-prefetch" for t in threading.enumerate())
    assert len(produced) <= 4


def test_prefetch_changes_no_vector_and_no_report(plain, monkeypatch, tmp_path):
    from facenet_tf import face_pipeline

    blank = _gradient(tmp_path / "gradient.png")
    small = FacePipeline(plain.embedder, flip=False, chunk_size=3, on_no_face="nan")
    inputs = [*FILES[:4], blank, *FILES[4:7]]
    with pytest.warns(facenet_tf.FaceNotFoundWarning, match="gradient.png") as caught:
        ahead = small.embed(inputs)
    assert all(w.filename == __file__ for w in caught)  # points at the caller
    monkeypatch.setattr(face_pipeline, "PREFETCH_CHUNKS", 0)
    with pytest.warns(facenet_tf.FaceNotFoundWarning, match="gradient.png"):
        serial = small.embed(inputs)
    np.testing.assert_array_equal(ahead, serial)
    assert np.isnan(ahead[4]).all() and np.isfinite(np.delete(ahead, 4, axis=0)).all()
    # An unreadable file in a later chunk raises the same typed error, naming it.
    monkeypatch.setattr(face_pipeline, "PREFETCH_CHUNKS", 1)
    with pytest.raises(facenet_tf.ImageReadError, match="missing.jpg"):
        small.embed([*FILES[:4], str(tmp_path / "missing.jpg")])


def test_embed_gives_the_golden_vectors_of_lfw_photos(shared_data):
    """``facenet_tf.embed`` with its defaults (and flip=False) on 50 LFW photos equals the
    vectors stored before the speed work (tests/fixtures/README.md)."""
    golden = np.load(GOLDEN)
    paths = [shared_data / p for p in golden["paths"]]
    if not all(p.is_file() for p in paths):
        pytest.skip("LFW images missing")
    # The golden vectors were made with oneDNN on, on AVX-512. Other kernel sets round the
    # detector's arithmetic differently: landmarks move by ~1e-3 px, which moves embeddings
    # by up to ~2e-4 (oneDNN off: 4.4e-5). A changed face choice or alignment moves them by
    # > 1e-2. On the kind of machine that made them (oneDNN on, AVX-512) they agree within
    # 1e-5, the bound the speed work kept.
    tol = 5e-4
    np.testing.assert_allclose(facenet_tf.embed(paths), golden["embeddings"], rtol=0, atol=tol)
    np.testing.assert_allclose(
        facenet_tf.embed(paths, flip=False), golden["embeddings_noflip"], rtol=0, atol=tol
    )
