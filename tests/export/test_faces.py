"""Export's model inputs are the face pipeline's crops, rounded to uint8; samples are
deterministic and disjoint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facenet_tf.errors import InvalidInputError
from facenet_tf.export import faces
from facenet_tf.face_pipeline import FacePipeline
from tests.conftest import REPO_ROOT
from tests.export.conftest import TINY_TEMPLATE, registered_export_model

EXAMPLE_PHOTOS = sorted((REPO_ROOT / "examples" / "faces").glob("*/*.jpg"))


def test_sample_paths_disjoint_and_deterministic():
    paths = [f"p{i}" for i in range(50)]
    a = faces.sample_paths(paths, 20, seed=1)
    b = faces.sample_paths(paths, 20, offset=20, seed=1)
    assert not set(a) & set(b)
    assert a == faces.sample_paths(paths, 20, seed=1)
    with pytest.raises(InvalidInputError, match="only 50"):
        faces.sample_paths(paths, 40, offset=20)


def test_export_pipeline_of_an_unregistered_model_needs_a_template(tiny_info):
    with pytest.raises(InvalidInputError, match="not registered.*template"):
        faces.export_pipeline(tiny_info)
    pipeline = faces.export_pipeline(tiny_info, template=TINY_TEMPLATE)
    assert pipeline.template == TINY_TEMPLATE and pipeline.flip is False
    assert pipeline.spec == tiny_info.spec


def test_to_uint8_rounds_and_clips():
    pixels = np.array([-3.0, 0.4, 0.6, 127.5, 254.6, 300.0], np.float32)
    np.testing.assert_array_equal(faces.to_uint8(pixels), [0, 0, 1, 128, 255, 255])


def test_face_inputs_of_no_photo(tiny_info):
    pixels, missing = faces.face_inputs(
        [], faces.export_pipeline(tiny_info, template=TINY_TEMPLATE)
    )
    assert pixels.shape == (0, *tiny_info.input_size, 3) and pixels.dtype == np.uint8
    assert missing == []


def test_face_inputs_photo_without_face_is_named_and_used_whole(tiny_info, tmp_path):
    bgr = np.zeros((90, 120, 3), np.uint8)
    bgr[..., 2] = 255  # plain red in OpenCV's BGR order: no face
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    pipeline = faces.export_pipeline(tiny_info, template=TINY_TEMPLATE)
    pixels, missing = faces.face_inputs([tmp_path / "red.png"], pipeline)
    assert missing == [str(tmp_path / "red.png")]
    assert pixels.shape == (1, *tiny_info.input_size, 3)
    np.testing.assert_array_equal(pixels[0, 0, 0], [255, 0, 0])


def test_face_inputs_are_the_crops_of_embed(monkeypatch):
    """The inputs export calibrates and measures on are FacePipeline(model, flip=False)'s
    crops rounded to uint8, the crops ``facenet_tf.embed`` uses for the default model."""
    import facenet_tf

    if "dlib_resnet_v1" not in facenet_tf.list_models():
        pytest.skip("dlib_resnet_v1 is not registered")
    paths = EXAMPLE_PHOTOS[:5]
    assert len(paths) == 5
    info = registered_export_model("dlib_resnet_v1")
    monkeypatch.setattr(faces, "CHUNK", 2)  # several chunks, the order kept
    pixels, missing = faces.face_inputs(paths, faces.export_pipeline(info))
    assert missing == []
    assert pixels.dtype == np.uint8 and pixels.shape == (5, 150, 150, 3)
    own = FacePipeline(info.model, flip=False).crops(paths).pixels
    np.testing.assert_array_equal(pixels, np.clip(np.rint(own), 0, 255).astype(np.uint8))
    embed_crops = FacePipeline("dlib_resnet_v1", flip=False).crops(paths)
    assert not embed_crops.no_face.any()
    np.testing.assert_array_equal(pixels, faces.to_uint8(embed_crops.pixels))
