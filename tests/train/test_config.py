"""TrainConfig validation: every bad value is refused up front with the field's name."""

from __future__ import annotations

import dataclasses

import pytest

from facenet_tf.errors import InvalidInputError
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
    ({"train_box": (0.5, 0.0, 0.4, 1.0)}, "train_box"),
    ({"val_box": (0.0, 0.0, 1.0)}, "val_box"),
    ({"crop_scale": (0.9, 0.5)}, "crop_scale"),
    ({"contrast_range": (1.2, 0.8)}, "contrast_range"),
    ({"jpeg_quality_range": (10, 101)}, "jpeg_quality_range"),
    ({"jpeg_prob": 1.5}, "jpeg_prob"),
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
    with pytest.raises(InvalidInputError, match=f"^{field}"):
        TrainConfig(**{**base, **overrides})


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
        flags.FLAGS(argv + ["--train_box=0.1,0.2,0.9,0.8", "--lr_schedule=piecewise",
                            "--lr_boundaries=100,200", "--lr_values=0.1,0.05,0.01"])  # fmt: skip
        config = train.config_from_flags()
        assert config.train_box == (0.1, 0.2, 0.9, 0.8)
        assert config.lr_boundaries == (100, 200) and config.lr_values == (0.1, 0.05, 0.01)
        assert config.data_dir == base["data_dir"] and config.strategy == "default"
        flags.FLAGS.unparse_flags()
        flags.FLAGS(argv + ["--identities_per_batch=1"])
        with pytest.raises(app.UsageError, match="^identities_per_batch"):
            train.main(argv[:1])
        assert not (tmp_path / "checkpoints").exists()
    finally:
        flags.FLAGS.unparse_flags()
