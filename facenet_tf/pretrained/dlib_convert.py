"""dlib's face-recognition ResNet -> arrays for the Keras ``dlib_resnet_v1`` model.

Each dlib convolution is followed by an ``affine`` layer (its batch norm, already frozen
into a per-channel ``gamma * x + beta``). The conversion folds it into the convolution:
``gamma * (W * x + b) + beta = (gamma W) * x + (gamma b + beta)``, so the Keras model runs
29 plain convolutions. Products are formed in float64 and rounded once to float32.

Arrays (input -> output order, 29 convolutions):
  * ``conv00_kernel`` .. ``conv28_kernel``: float32 [kh, kw, C_in, C_out] (Keras layout);
  * ``conv00_bias`` .. ``conv28_bias``: float32 [C_out];
  * ``fc_kernel``: float32 [256, 128], descriptor = pooled features @ fc_kernel;
  * ``input_mean``: float32 [3], the R, G, B means of dlib's input layer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facenet_tf.pretrained import cache
from facenet_tf.pretrained.dlib_reader import (
    DlibFormatError,
    DlibNetwork,
    find_model_file,
    read_network,
)

CACHE_NAME = "dlib_resnet_v1"
# sha256 of dlib_face_recognition_resnet_model_v1.dat in face-recognition-models 0.3.0.
SOURCE_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
# cache.arrays_sha256 of convert(read_network(that file)); changes only with the converter.
WEIGHTS_SHA256 = "b31e18b7a6638fe7148022241d95ed5aa436e5b162e29def871b801306e2089b"
NUM_CONVS = 29


def convert(network: DlibNetwork) -> dict[str, np.ndarray]:
    """Folds each affine into its convolution and lays the weights out for Keras.

    Args:
        network: the parsed dlib network.

    Returns:
        The arrays listed in the module docstring.

    Raises:
        DlibFormatError: a convolution is not directly followed by an affine layer, or the
            layer counts differ from dlib's ResNet.
    """
    arrays: dict[str, np.ndarray] = {}
    layers = network.layers
    index = 0
    for i, layer in enumerate(layers):
        if layer.kind != "con":
            continue
        if i + 1 >= len(layers) or layers[i + 1].kind != "affine":
            raise DlibFormatError(f"convolution {index} is not followed by an affine layer")
        gamma = layers[i + 1].params["gamma"].astype(np.float64)
        beta = layers[i + 1].params["beta"].astype(np.float64)
        filters = layer.params["filters"].astype(np.float64)  # [F, C, kh, kw]
        kernel = filters.transpose(2, 3, 1, 0) * gamma  # [kh, kw, C, F], scaled per F
        bias = layer.params["biases"].astype(np.float64) * gamma + beta
        arrays[f"conv{index:02d}_kernel"] = kernel.astype(np.float32)
        arrays[f"conv{index:02d}_bias"] = bias.astype(np.float32)
        index += 1
    if index != NUM_CONVS:
        raise DlibFormatError(f"expected {NUM_CONVS} convolutions, found {index}")
    (fc,) = [layer for layer in layers if layer.kind == "fc"]
    arrays["fc_kernel"] = fc.params["weights"].astype(np.float32)
    arrays["input_mean"] = np.asarray(network.input_mean, dtype=np.float32)
    return arrays


def load_dlib_resnet_weights(
    home: str | os.PathLike | None = None, source: str | os.PathLike | None = None
) -> dict[str, np.ndarray]:
    """The converted weights, from the cache or converted (and cached) on first use.

    Works offline: the source is the locally installed ``face-recognition-models`` file.

    Args:
        home: cache root; default ``$FACENET_TF_HOME`` or ``~/.cache/facenet_tf``.
        source: the dlib ``.dat`` file; default the installed package's copy.

    Returns:
        The arrays listed in the module docstring.

    Raises:
        FileNotFoundError: no valid cache and the package is not installed.
        cache.ChecksumError: the source file is not the known release.
    """

    def build() -> tuple[dict[str, np.ndarray], dict]:
        path = Path(source) if source is not None else find_model_file()
        cache.check_file_sha256(path, SOURCE_SHA256)
        meta = {"source": str(path), "source_sha256": SOURCE_SHA256, "format": 1}
        return convert(read_network(path)), meta

    return cache.load_or_build(CACHE_NAME, build, WEIGHTS_SHA256, home=home)
