"""Full-integer TFLite conversion of one layer, and its LiteRT outputs against Keras."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from facenet_tf.export import litert


def convert_and_compare(layer, data: np.ndarray) -> bytes:
    """Converts ``layer`` to full-int8 TFLite calibrated on ``data`` [N, H, W, C], checks
    that no float op is left and that LiteRT's dequantised outputs for every input lie
    within 4 int8 output steps of the Keras layer's; returns the flatbuffer."""
    shape = (1, *data.shape[1:])

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def forward(x):
        return layer(x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Calibrated on every input checked below, so that none is clipped to the int8 range.
    converter.representative_dataset = lambda: ([x[None]] for x in data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    flatbuffer = converter.convert()
    assert litert.float_ops(flatbuffer) == []

    interpreter = litert.make_interpreter(flatbuffer)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    for x in data:
        q = np.clip(np.round(x / in_scale) + in_zero, -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        got = (interpreter.get_tensor(out["index"]).astype(np.float32) - out_zero) * out_scale
        want = keras.ops.convert_to_numpy(layer(x[None]))
        np.testing.assert_allclose(got, want, atol=4 * out_scale)
    return flatbuffer
