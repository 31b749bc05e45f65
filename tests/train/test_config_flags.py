"""Flags generated from the config dataclasses: one per field, typed, round-tripping."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from facenet_tf.data import AugmentConfig
from facenet_tf.errors import InvalidInputError
from facenet_tf.train import config as config_lib
from facenet_tf.train import config_flags
from facenet_tf.train.config import TrainConfig


def _leaf_paths(cls, prefix=""):
    """Every leaf field path, walked independently of ``config_flags.leaves``."""
    for f in dataclasses.fields(cls):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(value):
            yield from _leaf_paths(type(value), f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


def _get(config, path):
    for part in path.split("."):
        config = getattr(config, part)
    return config


@pytest.fixture()
def fv():
    values = flags.FlagValues()
    holders = config_flags.define_flags(TrainConfig, values, exclude=config_lib.NOT_FLAGS)
    return values, holders


@pytest.fixture()
def base_argv(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "pairsDevTest.txt").write_text("1\n")
    (tmp_path / "lfw").mkdir()
    return ["train", f"--data_dir={tmp_path / 'faces'}", f"--workdir={tmp_path / 'w'}"]


def _parse(fv, argv):
    values, holders = fv
    values.unparse_flags()
    values(argv)
    return config_flags.config_from_flags(TrainConfig, holders)


def test_every_field_has_a_flag_with_help(fv):
    values, holders = fv
    paths = set(_leaf_paths(TrainConfig))
    assert "augment.flip" in paths and "augment" not in paths
    assert set(holders) == paths - set(config_lib.NOT_FLAGS)
    assert set(config_lib.NOT_FLAGS) <= paths
    for name in holders:
        assert len(values[name].help) > 10, name
    # The binary defines exactly these, plus --config.
    from facenet_tf.train import train

    assert set(train._FIELDS) == set(holders)
    assert flags.FLAGS["config"].default is None


def test_flag_types_and_defaults_follow_the_dataclass(fv):
    values, _ = fv
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert isinstance(values["xla"], flags.BooleanFlag)
    assert isinstance(values["augment.flip"], flags.BooleanFlag)
    assert values["train_steps"].parser.flag_type() == "int"
    assert values["margin"].parser.flag_type() == "float"
    assert values["loss"].parser.flag_type() == "string enum"
    assert tuple(values["loss"].parser.enum_values) == config_lib.LOSSES
    assert isinstance(values["augment.box"].parser, flags.ListParser)
    assert values["train_steps"].default == default["train_steps"]
    assert values["augment.crop_scale"].default == ["0.85", "1.0"]
    assert values["model"].default == "nn4"
    assert values["workdir"].default is None  # required


# field -> (flag value, expected config value, companion flags the value needs)
NON_DEFAULT = {
    "model": ("nn2", "nn2", []),
    "data_dir": ("{tmp}/faces,{tmp}/lfw", ("{tmp}/faces", "{tmp}/lfw"), []),
    "workdir": ("{tmp}/other", "{tmp}/other", []),
    "embedding_dim": ("64", 64, []),
    "data_format": ("folder", "folder", []),
    "identities_per_batch": ("8", 8, []),
    "images_per_identity": ("3", 3, []),
    "min_images_per_identity": ("4", 4, []),
    "shuffle_buffer": ("16", 16, []),
    "augment.box": ("0.1,0.2,0.9,0.8", (0.1, 0.2, 0.9, 0.8), []),
    "augment.crop_scale": ("0.5,0.9", (0.5, 0.9), []),
    "augment.flip": (False, False, []),
    "augment.brightness_delta": ("4", 4.0, []),
    "augment.contrast_range": ("1,1", (1.0, 1.0), []),
    "augment.jpeg_quality_range": ("50,60", (50, 60), []),
    "augment.jpeg_prob": ("0.25", 0.25, []),
    "loss": ("batch_all", "batch_all", []),
    "margin": ("0.35", 0.35, []),
    "distance": ("angular", "angular", []),
    "distill_targets": ("{tmp}/pairsDevTest.txt", "{tmp}/pairsDevTest.txt", []),
    "distill_weight": ("2.5", 2.5, []),
    "distill_center": (False, False, []),
    "harmonic_targets": ("{tmp}/pairsDevTest.txt", "{tmp}/pairsDevTest.txt", []),
    "harmonic_weight": ("0.5", 0.5, []),
    "harmonic_margin": ("0.1", 0.1, []),
    "harmonic_regression_weight": ("2", 2.0, []),
    "optimizer": ("adam", "adam", []),
    "learning_rate": ("0.001", 0.001, []),
    "lr_schedule": ("cosine", "cosine", []),
    "lr_boundaries": ("100,200", (100, 200), ["--lr_schedule=piecewise", "--lr_values=3,2,1"]),
    "lr_values": ("0.1,0.01", (0.1, 0.01), ["--lr_schedule=piecewise", "--lr_boundaries=50"]),
    "lr_alpha": ("0.1", 0.1, []),
    "lr_decay_steps": ("7", 7, []),
    "lr_decay_rate": ("0.9", 0.9, []),
    "warmup_steps": ("5", 5, []),
    "weight_decay": ("0.0001", 0.0001, []),
    "train_steps": ("30", 30, []),
    "max_train_minutes": ("1.5", 1.5, []),
    "seed": ("9", 9, []),
    "precision": ("mixed_bfloat16", "mixed_bfloat16", []),
    "xla": (True, True, []),
    "fused_layers": (False, False, []),
    "deterministic": (True, True, []),
    "strategy": ("mirrored", "mirrored", []),
    "tpu": ("local", "local", ["--strategy=tpu", "--xla"]),
    "devices": ("/cpu:0,/cpu:1", ("/cpu:0", "/cpu:1"), ["--strategy=mirrored"]),
    "communication": ("nccl", "nccl", []),
    "steps_per_loop": ("2", 2, []),
    "log_every": ("20", 20, []),
    "checkpoint_every": ("40", 40, []),
    "keep_checkpoints": ("1", 1, []),
    "val_every": ("0", 0, []),
    "val_pairs": ("{tmp}/pairsDevTest.txt", "{tmp}/pairsDevTest.txt", ["--val_images_dir={tmp}"]),
    "val_images_dir": ("{tmp}/lfw", "{tmp}/lfw", []),
    "val_batch_size": ("8", 8, []),
    "progress": (False, False, []),
    "export_saved_model": (False, False, []),
}


def test_the_round_trip_table_covers_every_flag(fv):
    assert set(NON_DEFAULT) == set(fv[1])


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_a_flag_value_round_trips_into_the_config(fv, base_argv, tmp_path, name):
    value, expected, companions = NON_DEFAULT[name]
    tmp = str(tmp_path)
    fill = lambda v: v.replace("{tmp}", tmp) if isinstance(v, str) else v  # noqa: E731
    if isinstance(value, bool):
        arg = f"--{name}" if value else f"--no{name}"
    else:
        arg = f"--{name}={fill(value)}"
    expected = tuple(map(fill, expected)) if isinstance(expected, tuple) else fill(expected)
    companions = [fill(c) for c in companions]
    config = _parse(fv, base_argv + companions + [arg])
    assert _get(config, name) == expected
    defaults = {leaf.name: leaf.default for leaf in config_flags.leaves(TrainConfig)}
    assert expected != defaults[name]  # the flag, not the default, set it


def test_bad_flag_values_name_the_flag(fv, base_argv):
    with pytest.raises(InvalidInputError, match="^augment.crop_scale: expected 2 values"):
        _parse(fv, base_argv + ["--augment.crop_scale=0.5"])
    with pytest.raises(InvalidInputError, match="^augment.box: expected a number, got 'x'"):
        _parse(fv, base_argv + ["--augment.box=0,0,1,x"])
    with pytest.raises(InvalidInputError, match="^workdir: required"):
        _parse(fv, base_argv[:2])
    with pytest.raises(flags.IllegalFlagValueError):
        _parse(fv, base_argv + ["--loss=contrastive"])


def test_flags_override_a_base_and_keep_its_nested_values(fv, base_argv):
    base = {"margin": 0.3, "augment": {"flip": False, "jpeg_prob": 0.2}}
    values, holders = fv
    values.unparse_flags()
    values(base_argv + ["--augment.jpeg_prob=0.4", "--seed=2"])
    config = config_flags.config_from_flags(TrainConfig, holders, base)
    assert (config.margin, config.seed) == (0.3, 2)
    assert config.augment == AugmentConfig(flip=False, jpeg_prob=0.4)
    assert base == {"margin": 0.3, "augment": {"flip": False, "jpeg_prob": 0.2}}  # untouched


def test_attribute_docs_reads_google_style_entries():
    @dataclasses.dataclass
    class Example:
        """Title.

        Attributes:
            a: first line
                continued.
            b, c: shared text.
            d: metadata wins.

        Returns:
            nothing: not an attribute.
        """

        a: int = 1
        b: bool = True
        c: str = ""
        d: float = dataclasses.field(default=0.0, metadata={"help": "From metadata."})

    docs = config_flags.attribute_docs(Example)
    assert docs == {"a": "first line continued.", "b": "shared text.", "c": "shared text.",
                    "d": "metadata wins."}  # fmt: skip
    helps = {leaf.name: leaf.help for leaf in config_flags.leaves(Example)}
    assert helps["d"] == "From metadata."


def test_undocumented_or_unsupported_fields_are_refused():
    @dataclasses.dataclass
    class Undocumented:
        """No attributes section."""

        a: int = 1

    @dataclasses.dataclass
    class Unsupported:
        """Title.

        Attributes:
            a: a mapping.
        """

        a: dict = dataclasses.field(default_factory=dict)

    with pytest.raises(TypeError, match="Undocumented.a: no help text"):
        config_flags.define_flags(Undocumented, flags.FlagValues())
    with pytest.raises(TypeError, match="a: no flag type"):
        config_flags.define_flags(Unsupported, flags.FlagValues())
