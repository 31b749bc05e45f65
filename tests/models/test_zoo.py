"""One test per property, parametrized over every registered model (timm-style).

Models are built once per module and shared; every check uses a batch of 2.
"""

from __future__ import annotations

import gc

import keras
import numpy as np
import pytest
import tensorflow as tf

from facenet_tf.layers import PixelNormalization
from facenet_tf.models import create_model, get_model_info, list_models
from facenet_tf.models.flops import count_flops, count_params

MODELS = list_models()

# Golden parameter counts (trainable + BN statistics), D = 128. Regenerate by hand only
# when an architecture changes on purpose; a registered model missing here fails.
PARAM_COUNTS = {
    "dlib_resnet_v1": 5_607_488,
    "inception_resnet_v1": 22_807_888,
    "mobilefacenet": 1_022_336,
    "mobilefacenet_harmonic_dlib": 1_022_336,
    "nn1": 140_033_344,
    "nn2": 7_480_064,
    "nn3": 7_480_064,
    "nn4": 6_966_656,
    "nns1": 26_334_176,
    "nns2": 4_380_224,
}

_BUILT: dict[str, keras.Model] = {}


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    yield
    _BUILT.clear()
    gc.collect()


def _create(name: str, **kwargs) -> keras.Model:
    # create_model builds untrained architectures (pretrained=False is the default of
    # every builder): no weight files are read or cached, and any embedding_dim works.
    return create_model(name, **kwargs)


def _model(name: str) -> keras.Model:
    if name not in _BUILT:
        keras.utils.set_random_seed(0)
        _BUILT[name] = _create(name)
    return _BUILT[name]


def _images(name: str, batch: int = 2, seed: int = 0) -> np.ndarray:
    height, width = get_model_info(name).input_size
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=(batch, height, width, 3)).astype(np.float32)


@pytest.mark.parametrize("name", MODELS)
def test_declared_contract(name):
    model = _model(name)
    info = get_model_info(name)
    assert model.name == name
    assert tuple(model.input.shape) == (None, *info.input_size, 3)
    assert info.align_template in ("facenet_160", "dlib_150", "mobile_112")
    assert isinstance(model.layers[1], PixelNormalization)
    last = model.layers[-1]
    assert last.name == "embedding_l2"
    assert isinstance(last, keras.layers.UnitNormalization)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape_unit_norm_no_nan(name):
    out = _model(name)(_images(name), training=False)
    out = keras.ops.convert_to_numpy(out)
    assert out.shape == (2, 128)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # Two different images must not collapse onto one embedding.
    assert np.max(np.abs(out[0] - out[1])) > 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_every_trainable_variable_gets_a_finite_gradient(name):
    model = _model(name)
    x = tf.constant(_images(name, seed=1))
    direction = tf.constant(np.random.default_rng(2).normal(size=(2, 128)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True) * direction)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    assert variables
    missing = [v.path for v, g in zip(variables, grads, strict=True) if g is None]
    assert not missing, f"no gradient for {missing}"
    bad = [v.path for v, g in zip(variables, grads, strict=True) if not np.all(np.isfinite(g))]
    assert not bad, f"non-finite gradient for {bad}"
    # A disconnected branch would get exact zeros; every weight here is on the path.
    dead = [v.path for v, g in zip(variables, grads, strict=True) if not np.any(g)]
    assert not dead, f"all-zero gradient for {dead}"


@pytest.mark.parametrize("name", MODELS)
def test_json_config_round_trip(name):
    model = _model(name)
    clone = keras.models.model_from_json(model.to_json())
    assert clone.name == name
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = _images(name, seed=3)
    np.testing.assert_allclose(clone(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_round_trip(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    path.unlink()  # NN1's file is 560 MB: do not keep it around
    assert loaded.name == name
    x = _images(name, seed=4)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_is_pinned(name):
    assert name in PARAM_COUNTS, f"{name} has no pinned parameter count in PARAM_COUNTS"
    assert count_params(_model(name)) == PARAM_COUNTS[name]


@pytest.mark.parametrize("name", MODELS)
def test_embedding_dim_override(name):
    model = _create(name, embedding_dim=64)
    assert tuple(model.output.shape) == (None, 64)
    out = keras.ops.convert_to_numpy(model(_images(name), training=False))
    assert out.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("embedding_l2").input.shape[-1] == 64
    del model
    gc.collect()


@pytest.mark.parametrize(
    "name", [n for n in MODELS if get_model_info(n).paper_params or get_model_info(n).paper_flops]
)
def test_within_25_percent_of_the_paper(name):
    info = get_model_info(name)
    model = _model(name)
    if info.paper_params:
        ratio = count_params(model) / info.paper_params
        assert 0.75 <= ratio <= 1.25, f"params ratio {ratio:.3f}"
    if info.paper_flops:
        ratio = count_flops(model) / info.paper_flops
        assert 0.75 <= ratio <= 1.25, f"multiply-adds ratio {ratio:.3f}"


def test_paper_figures_are_registered():
    # FaceNet paper, Tables 1-2 and Section 4 (NN3 has no separate figures); the
    # MobileFaceNet paper (Chen et al. 2018) for mobilefacenet.
    expected = {
        "nn1": (140e6, 1.6e9),
        "nn2": (7.5e6, 1.6e9),
        "nn3": (None, None),
        "nn4": (None, 285e6),
        "nns1": (26e6, 220e6),
        "nns2": (4.3e6, 20e6),
        "mobilefacenet": (0.99e6, 221e6),
        "mobilefacenet_harmonic_dlib": (0.99e6, 221e6),
    }
    for name, (params, flops) in expected.items():
        info = get_model_info(name)
        assert (info.paper_params, info.paper_flops) == (params, flops), name


def test_nn3_is_nn2_at_160():
    nn2, nn3 = _model("nn2"), _model("nn3")
    assert count_params(nn3) == count_params(nn2)
    # Multiply-adds scale with the feature-map areas: 112^2 -> 80^2 at conv1 and so on.
    ratio = count_flops(nn3) / count_flops(nn2)
    assert ratio == pytest.approx((160 / 224) ** 2, rel=0.05)


def test_table1_and_table2_layer_sizes():
    # Output sizes printed in the paper's tables.
    nn1 = _model("nn1")
    for layer, shape in {
        "conv1_relu": (110, 110, 64),
        "pool1": (55, 55, 64),
        "conv2_relu": (55, 55, 192),
        "pool2": (28, 28, 192),
        "conv3_relu": (28, 28, 384),
        "pool3": (14, 14, 384),
        "conv4_relu": (14, 14, 256),
        "pool4": (7, 7, 256),
        "fc1_maxout": (4096,),
        "fc2_maxout": (4096,),
    }.items():
        assert tuple(nn1.get_layer(layer).output.shape[1:]) == shape, layer
    assert nn1.get_layer("fc1_dense").count_params() == 7 * 7 * 256 * 8192 + 8192
    nn2 = _model("nn2")
    for layer, shape in {
        "conv1_relu": (112, 112, 64),
        "pool1": (56, 56, 64),
        "conv2_relu": (56, 56, 192),
        "pool2": (28, 28, 192),
        "inception_3a_concat": (28, 28, 256),
        "inception_3b_concat": (28, 28, 320),
        "inception_3c_concat": (14, 14, 640),
        "inception_4a_concat": (14, 14, 640),
        "inception_4e_concat": (7, 7, 1024),
        "inception_5b_concat": (7, 7, 1024),
        "avg_pool": (1024,),
    }.items():
        assert tuple(nn2.get_layer(layer).output.shape[1:]) == shape, layer


@pytest.mark.parametrize("name", list_models())
def test_every_builder_takes_pretrained_false_and_the_spec_says_what_ships(name):
    import inspect

    from facenet_tf.errors import ModelNotFoundError
    from facenet_tf.models.spec import model_spec

    info = get_model_info(name)
    param = inspect.signature(info.builder).parameters["pretrained"]
    assert param.default is False and param.kind is inspect.Parameter.KEYWORD_ONLY
    spec = model_spec(name)
    assert spec.input_size == info.input_size and spec.template == info.align_template
    assert spec.license
    if not spec.pretrained_weights:
        with pytest.raises(ModelNotFoundError, match="ships without trained weights"):
            create_model(name, pretrained=True)
    assert name != "dlib_resnet_v1" or spec.pretrained_weights
