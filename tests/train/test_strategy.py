"""Strategy construction and chief election (the parts that run without a cluster)."""

from __future__ import annotations

import json
import types

import pytest
import tensorflow as tf

from facenet_tf.errors import InvalidInputError
from facenet_tf.train import strategy as strategy_lib


def test_default_strategy_is_tensorflows_default():
    s = strategy_lib.create_strategy("default")
    assert s is tf.distribute.get_strategy()
    assert s.num_replicas_in_sync == 1
    assert strategy_lib.is_chief(s) and strategy_lib.task(s) == (None, 0)


def test_mirrored_on_the_cpu():
    s = strategy_lib.create_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(s, tf.distribute.MirroredStrategy)
    assert s.num_replicas_in_sync == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (("ps",), "^strategy"),
        (("tpu",), "^tpu: --strategy=tpu needs"),
        (("default", "my-tpu"), "^tpu: only used"),
        (("default", "", (), "mpi"), "^communication"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(InvalidInputError, match=match):
        strategy_lib.create_strategy(*args)


def test_tf_config_parsing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_lib.read_tf_config() == {}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {}}))
    with pytest.raises(InvalidInputError, match="task"):
        strategy_lib.read_tf_config()


def _fake(task_type, task_id):
    resolver = types.SimpleNamespace(task_type=task_type, task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize(
    "cluster, task_type, task_id, chief",
    [
        ({"worker": ["a", "b"]}, "worker", 0, True),
        ({"worker": ["a", "b"]}, "worker", 1, False),
        ({"chief": ["c"], "worker": ["a"]}, "chief", 0, True),
        ({"chief": ["c"], "worker": ["a"]}, "worker", 0, False),
    ],
)
def test_chief_election(monkeypatch, cluster, task_type, task_id, chief):
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task_type, "index": task_id}})
    )
    assert strategy_lib.is_chief(_fake(task_type, task_id)) is chief
