"""The seams between the pipeline and the model code: what the import writes and what train.py parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_cr.jobs import training_request

from .conftest import training_props
from .fake_isic import FakeArchive


def test_the_import_output_is_a_folder_dataset_that_the_training_pipeline_reads(tmp_path):
    pytest.importorskip("tensorflow")
    from isic_import.__main__ import main
    from lesion_model.data import list_folder_dataset

    with FakeArchive({"benign": 4, "malignant": 3}) as archive:
        assert main(["--api-url", archive.url, "--output", str(tmp_path), "--image-size", "64"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # labels.csv, attribution.txt and manifest.json beside the class folders do not confuse it
    assert (
        list_folder_dataset(str(tmp_path)).class_counts()
        == manifest["class_counts"]
        == {"benign": 4, "malignant": 3}
    )


def _toolkit_argv(hyperparameters: dict[str, str]) -> list[str]:
    """What the SageMaker training toolkit runs: JSON-decoded user hyperparameters as `--key value`.

    Keys starting with `sagemaker_` are the toolkit's own and never reach the script.
    """
    argv: list[str] = []
    for key, encoded in sorted(hyperparameters.items()):
        if not key.startswith("sagemaker_"):
            argv += [f"--{key}", str(json.loads(encoded))]
    return argv


def test_the_jobs_hyperparameters_are_flags_train_py_understands(monkeypatch):
    pytest.importorskip("tensorflow")
    from train import parse_args

    from stacks.config import TrainingSettings
    from stacks.constructs.training import hyperparameters

    settings = TrainingSettings(epochs=12, hyperparameters=(("learning-rate", "0.0005"),))
    request = training_request(training_props("http://h", HyperParameters=hyperparameters(settings)), "job-1")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    args = parse_args(_toolkit_argv(request["HyperParameters"]))
    assert (args.arch, args.weights, args.epochs, args.head_epochs) == ("mobilenet_v2", "imagenet", 12, 3)
    assert (args.learning_rate, args.patience, args.max_minutes) == (0.0005, 5, 220.0)
    assert (args.train, args.model_dir) == ("/opt/ml/input/data/train", "/opt/ml/model")
    # Spot interruptions resume from the synced checkpoints; TensorBoard events land in S3.
    assert request["CheckpointConfig"]["LocalPath"] == args.checkpoint_dir == "/opt/ml/checkpoints"
    assert request["TensorBoardOutputConfig"]["LocalPath"] == args.tensorboard_dir


def test_the_processing_container_command_unpacks_the_code_bundle_and_runs_the_import(tmp_path):
    """The import job's exact entrypoint and arguments, run here with /opt/ml/processing moved to tmp."""
    import os
    import subprocess
    import sys

    from training_cr.jobs import processing_request

    from stacks.constructs.dataset import MODEL_SRC, deterministic_targz

    from .conftest import import_props

    root = tmp_path / "processing"
    (root / "input" / "code").mkdir(parents=True)
    (root / "input" / "code" / "0123abcd.gz").write_bytes(deterministic_targz(MODEL_SRC))  # as the asset key
    with FakeArchive({"benign": 3, "malignant": 2}) as archive:
        props = import_props(
            "http://h", Arguments=["--api-url", archive.url, "--image-size", "64", "--workers", "2"]
        )
        app = processing_request(props, "job-1")["AppSpecification"]
        command = [
            part.replace("/opt/ml/processing", str(root))
            for part in app["ContainerEntrypoint"] + app["ContainerArguments"]
        ]
        env = os.environ | {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        }  # python3 with Pillow
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    assert manifest["class_counts"] == {"benign": 3, "malignant": 2}
    assert len(list((root / "output" / "malignant").glob("*.jpg"))) == 2
