"""NN1: FaceNet's Zeiler & Fergus-style network with 1x1 convolutions (paper Table 1)."""

from __future__ import annotations

import keras

from facenet_tf.layers import LocalResponseNormalization, Maxout, PixelNormalization, conv_bn_act
from facenet_tf.models.heads import embedding_head
from facenet_tf.models.registry import register_model, require_untrained

INPUT_SIZE = (220, 220)

# (name, filters, kernel, stride) of Table 1's convolutions; pools and norms are placed
# between them in ``nn1`` below.
_CONVS = {
    "conv1": (64, 7, 2),
    "conv2a": (64, 1, 1),
    "conv2": (192, 3, 1),
    "conv3a": (192, 1, 1),
    "conv3": (384, 3, 1),
    "conv4a": (384, 1, 1),
    "conv4": (256, 3, 1),
    "conv5a": (256, 1, 1),
    "conv5": (256, 3, 1),
    "conv6a": (256, 1, 1),
    "conv6": (256, 3, 1),
}


def _conv(x, name: str):
    filters, kernel, stride = _CONVS[name]
    return conv_bn_act(x, filters, kernel, strides=stride, name=name)


def _pool(x, name: str):
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)


@register_model(
    "nn1",
    input_size=INPUT_SIZE,
    align_template="facenet_160",
    paper_params=140e6,
    paper_flops=1.6e9,
    summary="FaceNet NN1 (Table 1): Zeiler&Fergus + 1x1 convs, maxout FC, 220x220",
)
def nn1(
    embedding_dim: int = 128,
    *,
    pretrained: bool = False,
    dropout: float = 0.0,
    local_response_norm: bool = True,
) -> keras.Model:
    """FaceNet NN1 (Table 1): Zeiler&Fergus + 1x1 convs, maxout FC, 220x220.

    Layers follow Table 1 row by row, with its layer names: conv1 (7x7/2, 64) -> pool1
    -> rnorm1 -> conv2a (1x1) -> conv2 (3x3, 192) -> rnorm2 -> pool2 -> conv3a -> conv3
    (384) -> pool3 -> conv4a -> conv4 (256) -> conv5a -> conv5 -> conv6a -> conv6 ->
    pool4 (7x7x256) -> fc1 -> fc2 -> fc7128 (``embedding_dense``) -> L2. Pools are 3x3,
    stride 2, "same" padding, which gives Table 1's sizes 110, 55, 28, 14, 7.

    Choices where the paper is silent or dated:
      * fc1 and fc2 are maxout layers with p=2, read from Table 1's "1x32x128 maxout
        p=2" and its parameter counts: fc1 is Dense(8192) on the flattened 7x7x256 map
        followed by Maxout(2) -> 4096 units (= 1x32x128; 103M parameters, as in the
        table), fc2 is Dense(8192) -> Maxout(2) (34M). The "concat" row (a no-op for a
        single tower) is omitted.
      * Every convolution is followed by batch normalisation (conv -> BN -> ReLU, no
        conv bias). The 2015 paper predates BN; it makes training from random
        initialisation faster and less sensitive to the learning rate. The rnorm rows
        stay as local response normalisation (``local_response_norm=False`` drops them).
      * Input: RGB pixels in [0, 255], normalised inside the model by
        ``PixelNormalization(127.5, 1/128)`` to about [-1, 1] (the paper does not say;
        this is the fixed standardisation of the widely used TensorFlow FaceNet ports).

    Args:
        pretrained: must be False: this architecture ships untrained (the
            registry refuses True before calling the builder).
        embedding_dim: D, size of the output embedding (paper: 128).
        dropout: dropout rate on fc1's and fc2's outputs during training (paper: none given).
        local_response_norm: keep the rnorm1/rnorm2 layers.

    Returns:
        Keras model named ``nn1``: float32 [N, 220, 220, 3] pixels in [0, 255] ->
        float32 [N, D] unit vectors.
    """
    require_untrained("nn1", pretrained)
    inputs = keras.Input((*INPUT_SIZE, 3), name="image")
    x = PixelNormalization(127.5, 1.0 / 128.0, name="pixel_normalization")(inputs)
    x = _conv(x, "conv1")
    x = _pool(x, "pool1")
    if local_response_norm:
        x = LocalResponseNormalization(name="rnorm1")(x)
    x = _conv(x, "conv2a")
    x = _conv(x, "conv2")
    if local_response_norm:
        x = LocalResponseNormalization(name="rnorm2")(x)
    x = _pool(x, "pool2")
    x = _conv(x, "conv3a")
    x = _conv(x, "conv3")
    x = _pool(x, "pool3")
    for name in ("conv4a", "conv4", "conv5a", "conv5", "conv6a", "conv6"):
        x = _conv(x, name)
    x = _pool(x, "pool4")
    x = keras.layers.Flatten(name="flatten")(x)
    for name in ("fc1", "fc2"):
        x = keras.layers.Dense(4096 * 2, name=f"{name}_dense")(x)
        x = Maxout(2, name=f"{name}_maxout")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    outputs = embedding_head(x, embedding_dim)
    return keras.Model(inputs, outputs, name="nn1")
