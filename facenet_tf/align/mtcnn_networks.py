"""The three MTCNN networks (Zhang et al., 2016) as Keras functional models.

Weights are the ones the MIT-licensed ``mtcnn`` package (PyPI, 1.x) ships in its wheel
under ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4`` (joblib pickles of ``get_weights()``
lists). We read those files directly and never import the package's code, so detection
runs through our own batched pipeline (``facenet_tf.align.detector``).

Differences from the package's subclassed models, none of which changes the outputs:
  * the input is raw RGB pixels in [0, 255]; ``PixelNormalization(127.5, 1/128)`` is the
    first layer (the package normalises outside the model);
  * the package's ``Permute((2, 1, 3))`` before the first dense layer (a leftover of the
    Caffe weights' column-major flattening) is folded into the dense kernel's rows, so
    the networks are plain conv -> flatten -> dense stacks.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np

from facenet_tf.layers.pixel_normalization import PixelNormalization

STAGES = ("pnet", "rnet", "onet")


def _conv_prelu(x, filters: int, kernel: int, name: str):
    x = keras.layers.Conv2D(filters, kernel, padding="valid", name=f"{name}_conv")(x)
    return keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)


def build_pnet() -> keras.Model:
    """Proposal network, fully convolutional.

    Returns:
        Model mapping float32 [N, H, W, 3] RGB pixels in [0, 255] (H, W >= 12) to
        ``(box_regression [N, h, w, 4], face_probability [N, h, w, 2])`` with
        h = ceil((H - 2) / 2) - 4 (one cell per 12x12 window at stride 2).
    """
    inputs = keras.Input((None, None, 3), name="pixels")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="normalize")(inputs)
    x = _conv_prelu(x, 10, 3, "block1")
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="block1_pool")(x)
    x = _conv_prelu(x, 16, 3, "block2")
    x = _conv_prelu(x, 32, 3, "block3")
    box = keras.layers.Conv2D(4, 1, name="box_regression")(x)
    prob = keras.layers.Conv2D(2, 1, activation="softmax", name="face_probability")(x)
    return keras.Model(inputs, [box, prob], name="mtcnn_pnet")


def build_rnet() -> keras.Model:
    """Refinement network.

    Returns:
        Model mapping float32 [N, 24, 24, 3] RGB pixels in [0, 255] to
        ``(box_regression [N, 4], face_probability [N, 2])``.
    """
    inputs = keras.Input((24, 24, 3), name="pixels")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="normalize")(inputs)
    x = _conv_prelu(x, 28, 3, "block1")
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="block1_pool")(x)
    x = _conv_prelu(x, 48, 3, "block2")
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="block2_pool")(x)
    x = _conv_prelu(x, 64, 2, "block3")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, name="fc")(x)
    x = keras.layers.PReLU(name="fc_prelu")(x)
    box = keras.layers.Dense(4, name="box_regression")(x)
    prob = keras.layers.Dense(2, activation="softmax", name="face_probability")(x)
    return keras.Model(inputs, [box, prob], name="mtcnn_rnet")


def build_onet() -> keras.Model:
    """Output network (final boxes, scores and 5 landmarks).

    Returns:
        Model mapping float32 [N, 48, 48, 3] RGB pixels in [0, 255] to
        ``(box_regression [N, 4], landmarks [N, 10], face_probability [N, 2])``; landmarks
        are (x1..x5, y1..y5) as fractions of the input box, in the order left eye, right
        eye, nose, mouth left, mouth right (left/right as seen in the image).
    """
    inputs = keras.Input((48, 48, 3), name="pixels")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="normalize")(inputs)
    x = _conv_prelu(x, 32, 3, "block1")
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="block1_pool")(x)
    x = _conv_prelu(x, 64, 3, "block2")
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="block2_pool")(x)
    x = _conv_prelu(x, 64, 3, "block3")
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="block3_pool")(x)
    x = _conv_prelu(x, 128, 2, "block4")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, name="fc")(x)
    x = keras.layers.PReLU(name="fc_prelu")(x)
    box = keras.layers.Dense(4, name="box_regression")(x)
    landmarks = keras.layers.Dense(10, name="landmarks")(x)
    prob = keras.layers.Dense(2, activation="softmax", name="face_probability")(x)
    return keras.Model(inputs, [box, landmarks, prob], name="mtcnn_onet")


BUILDERS = {"pnet": build_pnet, "rnet": build_rnet, "onet": build_onet}

# Layer names in the order of the package's ``get_weights()`` list (kernel, bias per
# conv/dense; one alpha per PReLU).
_WEIGHT_ORDER = {
    "pnet": [
        "block1_conv", "block1_prelu", "block2_conv", "block2_prelu", "block3_conv",
        "block3_prelu", "box_regression", "face_probability",
    ],
    "rnet": [
        "block1_conv", "block1_prelu", "block2_conv", "block2_prelu", "block3_conv",
        "block3_prelu", "fc", "fc_prelu", "box_regression", "face_probability",
    ],
    "onet": [
        "block1_conv", "block1_prelu", "block2_conv", "block2_prelu", "block3_conv",
        "block3_prelu", "block4_conv", "block4_prelu", "fc", "fc_prelu", "box_regression",
        "landmarks", "face_probability",
    ],
}  # fmt: skip


def mtcnn_weights_dir() -> Path:
    """Folder of the ``mtcnn`` package's bundled weight files (the package is not imported).

    Raises:
        FileNotFoundError: the ``mtcnn`` package is not installed.
    """
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the MTCNN weights come from the 'mtcnn' package (pip install 'mtcnn>=1.0,<2'), "
            "which is not installed"
        )
    return Path(spec.submodule_search_locations[0]) / "assets" / "weights"


def load_package_weights(stage: str) -> list[np.ndarray]:
    """Reads one stage's weight list from the ``mtcnn`` wheel.

    Args:
        stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.

    Returns:
        The arrays in the package's ``get_weights()`` order.
    """
    import joblib  # a dependency of mtcnn; imported lazily, only needed here

    path = mtcnn_weights_dir() / f"{stage}.lz4"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MTCNN weight file missing from the mtcnn package")
    return [np.asarray(w, np.float32) for w in joblib.load(path)]


def _unpermute_dense_kernel(kernel: np.ndarray, spatial: tuple[int, int, int]) -> np.ndarray:
    """Reorders dense-kernel rows from the package's (W, H, C) flattening to (H, W, C)."""
    h, w, c = spatial
    return kernel.reshape(w, h, c, -1).transpose(1, 0, 2, 3).reshape(h * w * c, -1)


def set_package_weights(model: keras.Model, stage: str, weights: list[np.ndarray]) -> None:
    """Copies a package weight list into one of our networks.

    Args:
        model: the network built by ``BUILDERS[stage]``.
        stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.
        weights: arrays in the package's ``get_weights()`` order.
    """
    it = iter(weights)
    for name in _WEIGHT_ORDER[stage]:
        layer = model.get_layer(name)
        values = [next(it) for _ in layer.get_weights()]
        if name == "fc":
            spatial = tuple(model.get_layer("flatten").input.shape[1:])
            values[0] = _unpermute_dense_kernel(values[0], spatial)
        layer.set_weights(values)
    if next(it, None) is not None:
        raise ValueError(f"{stage}: more weight arrays than layers expect")


def load_mtcnn_networks() -> dict[str, keras.Model]:
    """Builds P-Net, R-Net and O-Net and loads the ``mtcnn`` package's weights.

    Returns:
        ``{"pnet": ..., "rnet": ..., "onet": ...}``.
    """
    networks = {}
    for stage in STAGES:
        model = BUILDERS[stage]()
        set_package_weights(model, stage, load_package_weights(stage))
        networks[stage] = model
    return networks
