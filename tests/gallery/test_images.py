"""Adding photos embeds them through facenet_tf.embed with the gallery's model."""

from __future__ import annotations

import numpy as np
import pytest

import facenet_tf
from facenet_tf.gallery import Gallery


def test_add_photos_equals_embed(tmp_path, shared_data):
    folder = shared_data / "lfw" / "lfw-deepfunneled" / "Aaron_Peirsol"
    photos = sorted(folder.glob("*.jpg"))[:3]
    if len(photos) < 3:
        pytest.skip(f"{folder}: fewer than 3 photos")
    with Gallery.create(tmp_path / "g") as g:  # the default model
        ids = g.add(photos, "Aaron_Peirsol")
        assert g.sources == [str(p) for p in photos]
    want = facenet_tf.embed(photos)
    g = Gallery.open(tmp_path / "g", readonly=True)
    np.testing.assert_allclose(g.vectors(ids), want, atol=1e-6)
    assert g.identify(photos[:1], threshold=0.0) == ["Aaron_Peirsol"]  # itself, distance 0
    assert g.search(photos[1], k=1).ids.tolist() == [[ids[1]]]
