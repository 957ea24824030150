"""Fixtures for the model tests. Training and export are the slow parts, so the artifact is
built once per session (2 epochs on 40 generated 64 px images).
"""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import SIZE, write_folder_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> str:
    return write_folder_dataset(tmp_path_factory.mktemp("data"), 24, 16, corrupt=1)


@pytest.fixture(scope="session")
def trained_artifact(tiny_dataset, tmp_path_factory) -> dict:
    """Run train.py end to end (2 epochs, 64 px MobileNetV2 from scratch) and package it."""
    import train

    out = tmp_path_factory.mktemp("artifact")
    model_dir, package = str(out / "model_dir"), str(out / "model.tar.gz")
    argv = [
        "--train", tiny_dataset, "--model-dir", model_dir, "--package", package,
        "--arch", "mobilenet_v2", "--weights", "none", "--image-size", str(SIZE), "--batch-size", "8",
        "--epochs", "2", "--head-epochs", "1", "--val-fraction", "0.25", "--source-revision", "testrev",
    ]  # fmt: skip
    assert train.main(argv) == 0
    return {"model_dir": model_dir, "package": package, "dataset": tiny_dataset}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)
