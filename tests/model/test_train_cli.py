"""train.py's command line: SageMaker defaults, tolerance of unknown arguments, arch defaults."""

from __future__ import annotations

import pytest
import train


def test_paths_default_from_sagemaker_environment(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    args = train.parse_args([])
    assert (args.train, args.model_dir, args.output_data_dir) == (
        "/opt/ml/input/data/train", "/opt/ml/model", "/opt/ml/output/data",
    )  # fmt: skip


def test_unknown_arguments_such_as_sdk_v2_model_dir_are_ignored(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/data")
    args = train.parse_args(["--model_dir", "s3://bucket/job/model", "--epochs", "3"])
    assert args.epochs == 3


def test_seed_arch_gets_the_original_hyperparameters():
    args = train.parse_args(["--train", "/data", "--arch", "seed"])
    assert (args.image_size, args.batch_size, args.learning_rate, args.dropout, args.augment) == (
        180, 16, 1e-3, 0.5, "seed",
    )  # fmt: skip


def test_missing_training_data_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    with pytest.raises(SystemExit):
        train.parse_args([])
    assert "--train" in capsys.readouterr().err
