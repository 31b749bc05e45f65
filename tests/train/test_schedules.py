"""Learning-rate schedules (hand-computed values) and optimizer construction."""

from __future__ import annotations

import math

import keras
import pytest

from facenet_tf.train.config import TrainConfig
from facenet_tf.train.schedules import LinearWarmup, build_learning_rate, build_optimizer


@pytest.fixture()
def base(tmp_path):
    (tmp_path / "faces").mkdir()
    return {"model": "nn4", "data_dir": (str(tmp_path / "faces"),), "workdir": str(tmp_path)}


def _at(rate, step):
    return float(keras.ops.convert_to_numpy(rate(step))) if callable(rate) else rate


def test_constant_is_the_papers_adagrad_rate(base):
    config = TrainConfig(**base)
    assert build_learning_rate(config) == 0.05
    optimizer = build_optimizer(config)
    assert isinstance(optimizer, keras.optimizers.Adagrad)
    assert math.isclose(
        float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 0.05, rel_tol=1e-6
    )


def test_piecewise(base):
    c = TrainConfig(
        **base, lr_schedule="piecewise", lr_boundaries=(10, 20), lr_values=(0.1, 0.05, 0.01)
    )
    rate = build_learning_rate(c)
    expected = [0.1, 0.1, 0.05, 0.05, 0.01, 0.01]
    assert [round(_at(rate, s), 6) for s in (0, 10, 11, 20, 21, 99)] == expected


def test_cosine_with_warmup(base):
    c = TrainConfig(**base, lr_schedule="cosine", train_steps=110, warmup_steps=10, lr_alpha=0.1)
    rate = build_learning_rate(c)
    # Warm-up: (step + 1) / 10 of the base rate; then cosine over the remaining 100 steps
    # from 0.05 to 0.1 * 0.05: lr(t) = 0.05 * (0.1 + 0.9 * (1 + cos(pi t / 100)) / 2).
    assert math.isclose(_at(rate, 0), 0.005, rel_tol=1e-5)
    assert math.isclose(_at(rate, 4), 0.025, rel_tol=1e-5)
    for t in (0, 50, 100):
        expected = 0.05 * (0.1 + 0.9 * (1 + math.cos(math.pi * t / 100)) / 2)
        assert math.isclose(_at(rate, 10 + t), expected, rel_tol=1e-4)


def test_exponential_staircase(base):
    c = TrainConfig(**base, lr_schedule="exponential", lr_decay_steps=10, lr_decay_rate=0.5)
    rate = build_learning_rate(c)
    assert [round(_at(rate, s), 6) for s in (0, 9, 10, 25)] == [0.05, 0.05, 0.025, 0.0125]


def test_warmup_config_round_trip():
    inner = keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5)
    for schedule in (LinearWarmup(inner, 3), LinearWarmup(0.2, 4)):
        config = keras.saving.serialize_keras_object(schedule)
        again = keras.saving.deserialize_keras_object(config)
        assert set(schedule.get_config()) == {"schedule", "warmup_steps"}
        for step in (0, 2, 3, 9):
            assert math.isclose(_at(again, step), _at(schedule, step), rel_tol=1e-6)


@pytest.mark.parametrize(
    "overrides, cls",
    [
        ({"optimizer": "sgd"}, keras.optimizers.SGD),
        ({"optimizer": "adam"}, keras.optimizers.Adam),
        ({"precision": "mixed_float16"}, keras.optimizers.LossScaleOptimizer),
    ],
)
def test_optimizer_choice(base, overrides, cls):
    assert isinstance(build_optimizer(TrainConfig(**base, **overrides)), cls)
