r"""Training throughput (images/s) of a registry model on an accelerator, synthetic data.

One training step = forward, semi-hard triplet loss over the P x K batch, backward and
an AdaGrad update, compiled with XLA, under a mixed-precision policy. Two backends:

* ``tf`` (default when TensorFlow imports): the model from ``facenet_tf.create_model``,
  ``facenet_tf.losses.triplet_semihard_loss``, ``tf.function(jit_compile=True)``.
* ``jax``: the same Keras model definition run by Keras 3's JAX backend
  (``jax.jit`` of ``stateless_call`` + the optimizer's ``stateless_apply``), with the
  semi-hard loss written in ``jax.numpy`` below. For machines where only JAX is
  installed: the model modules are loaded without ``facenet_tf/__init__.py``, which
  imports TensorFlow.

Example:
  python benchmarks/train_gpu_throughput.py --model=inception_resnet_v1 \
      --batches=18x40,45x40 --precision=mixed_bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _backend(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import tensorflow  # noqa: F401

        return "tf"
    except ImportError:
        return "jax"


def _model_without_tensorflow(name: str, embedding_dim: int):
    """Registers and builds ``name`` importing only the pure-Keras model modules."""

    def bare(module: str, folder: Path) -> types.ModuleType:
        mod = types.ModuleType(module)
        mod.__path__ = [str(folder)]
        sys.modules[module] = mod
        return mod

    sys.path.insert(0, str(REPO))
    bare("facenet_tf", REPO / "facenet_tf")
    layers = bare("facenet_tf.layers", REPO / "facenet_tf" / "layers")
    bare("facenet_tf.models", REPO / "facenet_tf" / "models")
    from facenet_tf.layers.conv_block import conv_bn_act
    from facenet_tf.layers.pixel_normalization import PixelNormalization

    layers.conv_bn_act = conv_bn_act
    layers.PixelNormalization = PixelNormalization
    import importlib

    importlib.import_module(f"facenet_tf.models.{name}")
    from facenet_tf.models.registry import create_model

    return create_model(name, embedding_dim=embedding_dim)


def _semihard_jax(labels, emb, margin: float = 0.2):
    """Semi-hard triplet loss (squared L2, float32), O(B^2 log B) memory-light mining."""
    import jax
    import jax.numpy as jnp

    emb = emb.astype(jnp.float32)
    sq = jnp.sum(emb * emb, axis=1)
    d = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T, 0.0)
    same = labels[:, None] == labels[None, :]
    b = labels.shape[0]
    pos = same & ~jnp.eye(b, dtype=bool)
    neg = ~same
    big = jnp.float32(1e9)
    sorted_neg = jnp.sort(jnp.where(neg, d, big), axis=1)  # [B, B], negatives first
    n_neg = jnp.sum(neg, axis=1)
    # For pair (a, p): first negative strictly farther than d_ap, else the farthest one.
    idx = jax.vmap(lambda row, q: jnp.searchsorted(row, q, side="right"))(sorted_neg, d)
    has = idx < n_neg[:, None]
    semihard = jnp.take_along_axis(sorted_neg, jnp.minimum(idx, b - 1), axis=1)
    farthest = jnp.max(jnp.where(neg, d, -big), axis=1, keepdims=True)
    d_an = jnp.where(has, semihard, farthest)
    per_pair = jnp.where(pos, jax.nn.relu(d - d_an + margin), 0.0)
    return jnp.sum(per_pair) / jnp.maximum(jnp.sum(pos), 1)


def _labels(p: int, k: int):
    import numpy as np

    return np.repeat(np.arange(p, dtype=np.int32), k)


def bench_jax(model_name, batches, precision, steps, warmup):
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import jax.numpy as jnp
    import keras

    keras.mixed_precision.set_global_policy(precision)
    model = _model_without_tensorflow(model_name, 128)
    size = model.input_shape[1:3]
    optimizer = keras.optimizers.Adagrad(0.05)
    optimizer.build(model.trainable_variables)

    def loss_fn(trainable, non_trainable, images, labels):
        emb, non_trainable = model.stateless_call(trainable, non_trainable, images, training=True)
        return _semihard_jax(labels, emb), non_trainable

    @jax.jit
    def step(trainable, non_trainable, opt_vars, images, labels):
        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable, images, labels
        )
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return loss, trainable, non_trainable, opt_vars

    rows = []
    for p, k in batches:
        b = p * k
        try:
            state = (
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                [v.value for v in optimizer.variables],
            )
            key = jax.random.PRNGKey(0)
            images = jax.random.uniform(key, (b, *size, 3), jnp.float32, 0.0, 255.0)
            labels = jnp.asarray(_labels(p, k))
            t = time.perf_counter()
            for _ in range(warmup):
                loss, *state = step(*state, images, labels)
            loss.block_until_ready()
            compile_s = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(steps):
                loss, *state = step(*state, images, labels)
            loss.block_until_ready()
            dt = time.perf_counter() - t
            rows.append({"batch": f"{p}x{k}", "images_per_sec": round(b * steps / dt, 1),
                         "step_ms": round(1000 * dt / steps, 2), "warmup_s": round(compile_s, 1),
                         "loss": float(loss)})  # fmt: skip
        except Exception as err:  # noqa: BLE001 - e.g. out of memory: report and go on
            rows.append({"batch": f"{p}x{k}", "error": f"{type(err).__name__}: {err}"[:300]})
        print(json.dumps(rows[-1]), flush=True)
    return {"backend": f"keras {keras.__version__} / jax {jax.__version__}",
            "device": str(jax.devices()[0]), "rows": rows}  # fmt: skip


def bench_tf(model_name, batches, precision, steps, warmup):
    import keras
    import tensorflow as tf

    sys.path.insert(0, str(REPO))
    from facenet_tf.losses import triplet_semihard_loss
    from facenet_tf.models.registry import create_model

    keras.mixed_precision.set_global_policy(precision)
    model = create_model(model_name, embedding_dim=128)
    size = model.input_shape[1:3]
    optimizer = keras.optimizers.Adagrad(0.05)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=True)
    def step(images, labels):
        with tf.GradientTape() as tape:
            emb = tf.cast(model(images, training=True), tf.float32)
            loss = triplet_semihard_loss(labels, emb)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    rows = []
    for p, k in batches:
        b = p * k
        try:
            images = tf.random.uniform((b, *size, 3), 0.0, 255.0)
            labels = tf.constant(_labels(p, k))
            t = time.perf_counter()
            for _ in range(warmup):
                loss = step(images, labels)
            float(loss)
            compile_s = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(steps):
                loss = step(images, labels)
            float(loss)
            dt = time.perf_counter() - t
            rows.append({"batch": f"{p}x{k}", "images_per_sec": round(b * steps / dt, 1),
                         "step_ms": round(1000 * dt / steps, 2), "warmup_s": round(compile_s, 1),
                         "loss": float(loss)})  # fmt: skip
        except Exception as err:  # noqa: BLE001
            rows.append({"batch": f"{p}x{k}", "error": f"{type(err).__name__}: {err}"[:300]})
        print(json.dumps(rows[-1]), flush=True)
    devices = tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("CPU")
    return {"backend": f"tensorflow {tf.__version__}", "device": str(devices[0]), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="inception_resnet_v1")
    parser.add_argument("--batches", default="18x40,45x40", help="P x K list")
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--backend", default="auto", choices=["auto", "tf", "jax"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output", default="")
    args = parser.parse_args()
    batches = [tuple(int(v) for v in b.split("x")) for b in args.batches.split(",")]
    backend = _backend(args.backend)
    bench = bench_tf if backend == "tf" else bench_jax
    result = bench(args.model, batches, args.precision, args.steps, args.warmup)
    result.update({"model": args.model, "precision": args.precision, "steps": args.steps})
    print(json.dumps(result, indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
