"""Builds the ``tf.distribute`` strategy a training run asks for, and tells who the chief is.

``default``: TensorFlow's default strategy (one device, no distribution).
``mirrored``: synchronous data parallelism over local devices (all GPUs, or the listed
    devices, e.g. ``/cpu:0,/cpu:1`` after ``split_cpu``).
``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster comes from ``TF_CONFIG``.
``tpu``: ``TPUStrategy`` over the TPU named by ``tpu`` (a name, a ``grpc://`` address or
    ``local`` on a TPU VM). It is never named implicitly: an empty name would make the
    resolver query the cloud metadata server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import tensorflow as tf

from facenet_tf.errors import InvalidInputError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
COMMUNICATIONS = ("auto", "ring", "nccl")


def read_tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset).

    Raises:
        InvalidInputError: it is set but is not a JSON object with ``cluster`` and ``task``.
    """
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"TF_CONFIG: not valid JSON ({err})") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise InvalidInputError("TF_CONFIG: expected a JSON object with 'cluster' and 'task'")
    return config


def check_strategy_args(name: str, tpu: str = "", communication: str = "auto") -> None:
    """Validates strategy arguments without touching any device (config validation)."""
    if name not in STRATEGIES:
        raise InvalidInputError(f"strategy: must be one of {STRATEGIES}, got {name!r}")
    if communication not in COMMUNICATIONS:
        raise InvalidInputError(
            f"communication: must be one of {COMMUNICATIONS}, got {communication!r}"
        )
    if name == "tpu" and not tpu:
        raise InvalidInputError(
            "tpu: --strategy=tpu needs --tpu=NAME (a TPU name, grpc:// address or 'local')"
        )
    if name != "tpu" and tpu:
        raise InvalidInputError(f"tpu: only used with --strategy=tpu, got strategy={name!r}")
    if name == "multi_worker":
        config = read_tf_config()
        if not config:
            raise InvalidInputError(
                "TF_CONFIG: --strategy=multi_worker needs the TF_CONFIG environment variable "
                "(cluster and this task's type and index)"
            )


def create_strategy(
    name: str,
    tpu: str = "",
    devices: Sequence[str] = (),
    communication: str = "auto",
) -> tf.distribute.Strategy:
    """Creates the strategy (must run before any other TensorFlow work for multi_worker/tpu).

    Args:
        name: one of ``STRATEGIES``.
        tpu: TPU name, ``grpc://`` address or ``local`` (tpu only).
        devices: devices for ``mirrored`` (empty: all GPUs, else the CPU).
        communication: collective implementation for ``multi_worker``.

    Returns:
        The strategy.
    """
    check_strategy_args(name, tpu, communication)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) or None)
    if name == "multi_worker":
        impl = {
            "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
            "ring": tf.distribute.experimental.CommunicationImplementation.RING,
            "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
        }[communication]
        options = tf.distribute.experimental.CommunicationOptions(implementation=impl)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task_type, task_id) of this process in a multi-worker cluster, else (None, 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes summaries, final models and the real checkpoints.

    That is the ``chief`` task, or worker 0 in a cluster without one; every process of a
    single-host run is chief. TPU workers are driven from one host program.
    """
    task_type, task_id = task(strategy)
    if task_type is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    if task_type == "chief":
        return True
    cluster = read_tf_config().get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def split_cpu(num_devices: int) -> list[str]:
    """Splits the host CPU into ``num_devices`` logical devices (before TF initialises).

    Lets ``mirrored`` run several replicas on a machine without accelerators, e.g. in
    tests. Returns the device names to pass to ``create_strategy(devices=...)``.
    """
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )
    return [f"/cpu:{i}" for i in range(num_devices)]
