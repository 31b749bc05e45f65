"""TrainConfig validation: every bad value is refused up front with the field's name."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest

from facenet_tf.data import AugmentConfig
from facenet_tf.errors import FaceNetError, InvalidInputError
from facenet_tf.train import config as config_lib
from facenet_tf.train.config import TrainConfig, tfrecord_files


@pytest.fixture()
def base(tmp_path):
    (tmp_path / "faces" / "a").mkdir(parents=True)
    (tmp_path / "pairsDevTest.txt").write_text("1\n")
    (tmp_path / "pairs.txt").write_text("1\t1\n")
    (tmp_path / "lfw").mkdir()
    return {"model": "nn4", "data_dir": (str(tmp_path / "faces"),), "workdir": str(tmp_path / "w")}


def test_defaults_follow_the_paper(base):
    c = TrainConfig(**base)
    assert c.optimizer == "adagrad" and c.learning_rate == 0.05
    assert c.loss == "semihard" and c.margin == 0.2 and c.distance == "squared_l2"
    assert (c.identities_per_batch, c.images_per_identity) == (45, 40)
    assert c.global_batch_size == 1800
    assert c.resolved_data_format() == "folder"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seed = 1


BAD = [
    ({"loss": "contrastive"}, "loss"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"precision": "float16"}, "precision"),
    ({"strategy": "parameter_server"}, "strategy"),
    ({"strategy": "tpu", "xla": True}, "tpu"),
    ({"tpu": "my-tpu"}, "tpu"),
    ({"strategy": "tpu", "tpu": "local"}, "xla"),
    ({"strategy": "tpu", "tpu": "local", "xla": True, "precision": "mixed_float16"}, "precision"),
    ({"devices": ("/cpu:0",)}, "devices"),
    ({"identities_per_batch": 1}, "identities_per_batch"),
    ({"identities_per_batch": 0}, "identities_per_batch"),
    ({"images_per_identity": 1}, "images_per_identity"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"margin": -0.2}, "margin"),
    ({"train_steps": 0}, "train_steps"),
    ({"embedding_dim": 0}, "embedding_dim"),
    ({"augment": {"box": (0.5, 0.0, 0.4, 1.0)}}, "augment.box"),
    ({"augment": {"box": (0.0, 0.0, 1.0)}}, "augment.box"),
    ({"augment": {"crop_scale": (0.9, 0.5)}}, "augment.crop_scale"),
    ({"augment": {"contrast_range": (1.2, 0.8)}}, "augment.contrast_range"),
    ({"augment": {"jpeg_quality_range": (10, 101)}}, "augment.jpeg_quality_range"),
    ({"augment": {"jpeg_prob": 1.5}}, "augment.jpeg_prob"),
    ({"augment": {"flip": "yes"}}, "augment.flip"),
    ({"augment": {"image_size": (96, 96)}}, "augment.image_size"),
    ({"augment": {"blur": 1.0}}, "augment.blur"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"train_steps": 10.5}, "train_steps"),
    ({"lr_boundaries": ("a",), "lr_schedule": "piecewise"}, "lr_boundaries"),
    ({"lr_schedule": "piecewise", "lr_boundaries": (10,), "lr_values": (0.1,)}, "lr_values"),
    (
        {"lr_schedule": "piecewise", "lr_boundaries": (20, 10), "lr_values": (1, 2, 3)},
        "lr_boundaries",
    ),
    ({"lr_boundaries": (10,), "lr_values": (0.1, 0.01)}, "lr_boundaries"),
    ({"warmup_steps": 100, "train_steps": 100}, "warmup_steps"),
    (
        {
            "steps_per_loop": 5,
            "train_steps": 12,
            "log_every": 5,
            "checkpoint_every": 5,
            "val_every": 5,
        },
        "train_steps",
    ),
    ({"steps_per_loop": 5, "train_steps": 10, "log_every": 3}, "log_every"),
    ({"workdir": ""}, "workdir"),
    ({"model": "nn99"}, "model"),
    ({"model": "/nonexistent/model.keras"}, "model"),
    ({"data_dir": ()}, "data_dir"),
    ({"data_dir": ("/nonexistent/faces",)}, "data_dir"),
    ({"data_format": "tfrecord"}, "data_dir"),
    ({"data_format": "csv"}, "data_format"),
    ({"val_pairs": "/nonexistent/pairsDevTest.txt"}, "val_pairs"),
    ({"seed": -1}, "seed"),
]


@pytest.mark.parametrize("overrides, field", BAD, ids=[f for _, f in BAD])
def test_bad_values_name_the_field(base, overrides, field):
    with pytest.raises(InvalidInputError, match=f"^{re.escape(field)}:"):
        TrainConfig(**{**base, **overrides})


def test_plain_values_become_the_declared_types(base):
    c = TrainConfig(
        **base, augment={"crop_scale": [0.5, 1], "flip": False, "box": [0, 0, 1, 1]}, seed="3"
    )
    assert c.augment == AugmentConfig(crop_scale=(0.5, 1.0), flip=False, box=(0.0, 0.0, 1.0, 1.0))
    assert c.seed == 3
    assert c == TrainConfig(**base, augment=c.augment, seed=3)


def test_validation_pairs_rules(base, tmp_path):
    ok = TrainConfig(
        **base, val_pairs=str(tmp_path / "pairsDevTest.txt"), val_images_dir=str(tmp_path / "lfw")
    )
    assert ok.val_pairs.endswith("pairsDevTest.txt")
    # LFW view 2 is the benchmark: never a validation set.
    with pytest.raises(InvalidInputError, match="^val_pairs.*benchmark"):
        TrainConfig(**base, val_pairs=str(tmp_path / "pairs.txt"), val_images_dir=str(tmp_path))
    with pytest.raises(InvalidInputError, match="^val_images_dir"):
        TrainConfig(**base, val_pairs=str(tmp_path / "pairsDevTest.txt"))


def test_multi_worker_needs_tf_config(base, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InvalidInputError, match="^TF_CONFIG"):
        TrainConfig(**base, strategy="multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(InvalidInputError, match="^TF_CONFIG"):
        TrainConfig(**base, strategy="multi_worker")


def test_tfrecord_detection(base, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        (shards / f"train-{i:05d}-of-00002.tfrecord").write_bytes(b"")
    c = TrainConfig(**{**base, "data_dir": (str(shards),)})
    assert c.resolved_data_format() == "tfrecord"
    assert len(tfrecord_files((str(shards / "*.tfrecord"),))) == 2


def test_binary_validates_flags_before_running_anything(base, tmp_path):
    from absl import app, flags

    from facenet_tf.train import train

    argv = ["train", "--model=nn4", f"--data_dir={base['data_dir'][0]}", f"--workdir={tmp_path}"]
    try:
        flags.FLAGS(argv + ["--augment.box=0.1,0.2,0.9,0.8", "--lr_schedule=piecewise",
                            "--lr_boundaries=100,200", "--lr_values=0.1,0.05,0.01"])  # fmt: skip
        config = train.config_from_flags()
        assert config.augment.box == (0.1, 0.2, 0.9, 0.8)
        assert config.lr_boundaries == (100, 200) and config.lr_values == (0.1, 0.05, 0.01)
        assert config.data_dir == base["data_dir"] and config.strategy == "default"
        flags.FLAGS.unparse_flags()
        flags.FLAGS(argv + ["--identities_per_batch=1"])
        with pytest.raises(app.UsageError, match="^identities_per_batch"):
            train.main(argv[:1])
        assert not (tmp_path / "checkpoints").exists()
    finally:
        flags.FLAGS.unparse_flags()


def test_config_file_then_command_line_flags(base, tmp_path):
    from absl import flags

    from facenet_tf.train import train

    saved = TrainConfig(**base, margin=0.3, seed=5, augment=AugmentConfig(flip=False))
    path = tmp_path / "saved.json"
    path.write_text(config_lib.to_json(saved))
    try:
        flags.FLAGS(["train", f"--config={path}", "--seed=7", "--augment.jpeg_prob=0.1"])
        config = train.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    # The file's values, the command line's on top, the defaults for what neither names.
    assert config == dataclasses.replace(
        saved, seed=7, augment=dataclasses.replace(saved.augment, jpeg_prob=0.1)
    )
    assert config_lib.load(str(path)) == saved


def test_config_file_errors_name_the_field(base, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**base, "augment": {"flip": True, "blur": 2}}))
    with pytest.raises(InvalidInputError, match="^augment.blur: not a field"):
        config_lib.load(str(path))
    path.write_text(json.dumps({"model": "nn4"}))
    with pytest.raises(InvalidInputError, match="^data_dir: required"):
        config_lib.load(str(path))
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="^config: .*not valid JSON"):
        config_lib.load(str(path))


def test_written_config_is_the_dataclass_as_json(base):
    config = TrainConfig(**base, augment=AugmentConfig(crop_scale=(0.5, 1.0)), devices=())
    path = config_lib.write(config)
    assert path == f"{config.workdir}/config.json"
    written = json.loads(open(path).read())
    assert written == json.loads(json.dumps(dataclasses.asdict(config)))
    assert written["augment"]["crop_scale"] == [0.5, 1.0]
    assert not [p for p in os.listdir(config.workdir) if p != "config.json"]  # no temp file
    assert config_lib.load(path) == config


def test_resume_with_a_changed_field_names_every_difference(base):
    config_lib.write(TrainConfig(**base))
    changed = TrainConfig(**base, loss="batch_hard", augment=AugmentConfig(flip=False))
    with pytest.raises(config_lib.ConfigMismatchError) as err:
        config_lib.check_resume(changed)
    assert isinstance(err.value, FaceNetError) and isinstance(err.value, InvalidInputError)
    assert err.value.differences == {
        "augment.flip": (True, False),
        "loss": ("semihard", "batch_hard"),
    }
    message = str(err.value)
    assert "augment.flip: True (saved) -> False" in message
    assert "loss: 'semihard' (saved) -> 'batch_hard'" in message


def test_resume_allows_budget_interval_and_device_changes(base, tmp_path):
    config_lib.write(TrainConfig(**base))
    config_lib.check_resume(
        TrainConfig(
            **base, train_steps=20000, max_train_minutes=30.0, log_every=100,
            checkpoint_every=1000, val_every=0, keep_checkpoints=5, progress=False,
            export_saved_model=False, val_batch_size=16, strategy="mirrored",
            devices=("/cpu:0",),
        )
    )  # fmt: skip
    # A workdir moved elsewhere holds a config naming its old path.
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "config.json").write_text(config_lib.to_json(TrainConfig(**base)))
    config_lib.check_resume(TrainConfig(**{**base, "workdir": str(moved)}))


def test_resume_accepts_the_same_paths_spelled_relative(base, tmp_path, monkeypatch):
    saved = TrainConfig(
        **base, val_pairs=str(tmp_path / "pairsDevTest.txt"), val_images_dir=str(tmp_path / "lfw")
    )
    config_lib.write(saved)
    monkeypatch.chdir(tmp_path / "lfw")
    relative = dataclasses.replace(
        saved, data_dir=("../faces",), val_pairs="../pairsDevTest.txt", val_images_dir="."
    )
    config_lib.check_resume(relative)
    other = dataclasses.replace(saved, val_images_dir="../faces")  # another existing folder
    with pytest.raises(config_lib.ConfigMismatchError, match="val_images_dir"):
        config_lib.check_resume(other)


def test_cosine_schedule_keeps_its_step_budget(base):
    cosine = TrainConfig(**base, lr_schedule="cosine")
    config_lib.write(cosine)
    with pytest.raises(config_lib.ConfigMismatchError, match="train_steps: 10000 .saved. -> 20000"):
        config_lib.check_resume(dataclasses.replace(cosine, train_steps=20000))


def test_resumable_fields_are_config_fields():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert config_lib.RESUMABLE_FIELDS <= names


def test_binary_refuses_to_resume_with_another_config(base, tmp_path):
    from absl import app, flags

    from facenet_tf.train import train

    workdir = tmp_path / "run"
    config_lib.write(TrainConfig(**{**base, "workdir": str(workdir)}))
    # A checkpoint state file is all that marks the workdir as resumable.
    (workdir / "checkpoints").mkdir()
    (workdir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-4"\n')
    argv = ["train", f"--data_dir={base['data_dir'][0]}", f"--workdir={workdir}"]
    try:
        flags.FLAGS(argv + ["--margin=0.5", "--noaugment.flip"])
        with pytest.raises(app.UsageError, match="augment.flip: True .saved. -> False") as err:
            train.main(argv[:1])
        assert "margin: 0.2 (saved) -> 0.5" in str(err.value)
    finally:
        flags.FLAGS.unparse_flags()
    assert json.loads((workdir / "config.json").read_text())["margin"] == 0.2
