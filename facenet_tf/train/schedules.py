"""Learning-rate schedules and optimizers for triplet training (paper: AdaGrad at 0.05)."""

from __future__ import annotations

import keras

from facenet_tf.train.config import TrainConfig


@keras.saving.register_keras_serializable(package="facenet_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear ramp from 0 to ``schedule(0)`` over ``warmup_steps``, then ``schedule(step - warmup_steps)``.

    Args:
        schedule: the schedule after warm-up (a schedule or a constant rate).
        warmup_steps: length of the ramp; 0 disables it.
    """

    def __init__(self, schedule, warmup_steps: int):
        super().__init__()
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def _after(self, step):
        if isinstance(self.schedule, keras.optimizers.schedules.LearningRateSchedule):
            return self.schedule(step)
        return keras.ops.cast(self.schedule, "float32")

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 1))
        after = self._after(keras.ops.maximum(step - self.warmup_steps, 0.0))
        ramp = keras.ops.minimum((step + 1.0) / warm, 1.0)
        return keras.ops.where(step < self.warmup_steps, after * ramp, after)

    def get_config(self) -> dict:
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.saving.serialize_keras_object(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config: dict) -> LinearWarmup:
        schedule = config["schedule"]
        if isinstance(schedule, dict):
            schedule = keras.saving.deserialize_keras_object(schedule)
        return cls(schedule, config["warmup_steps"])


def build_learning_rate(config: TrainConfig):
    """The learning rate (a float or a schedule of the optimizer's iteration count)."""
    decay_steps = max(config.train_steps - config.warmup_steps, 1)
    if config.lr_schedule == "constant":
        rate = config.learning_rate
    elif config.lr_schedule == "piecewise":
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            list(config.lr_boundaries), [float(v) for v in config.lr_values]
        )
    elif config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps, alpha=config.lr_alpha
        )
    else:
        rate = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.lr_decay_steps, config.lr_decay_rate, staircase=True
        )
    if config.warmup_steps:
        rate = LinearWarmup(rate, config.warmup_steps)
    return rate


def build_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """AdaGrad (the paper), SGD with momentum 0.9 or Adam; loss-scaled for mixed_float16.

    Create it inside ``strategy.scope()``: Keras binds the optimizer to the strategy
    that is current when it is constructed.
    """
    rate = build_learning_rate(config)
    decay = config.weight_decay or None
    if config.optimizer == "adagrad":
        optimizer = keras.optimizers.Adagrad(rate, weight_decay=decay)
    elif config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(rate, momentum=0.9, weight_decay=decay)
    else:
        optimizer = keras.optimizers.Adam(rate, weight_decay=decay)
    if config.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
