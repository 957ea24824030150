"""Fixtures for the local stack's own tests: a tiny real model artifact and a model server on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_artifact import SINGLE_HANDLER_PY, build_tiny_artifact


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model.tar.gz in DESIGN.md's layout whose inference.py has input_handler + output_handler."""
    return build_tiny_artifact(tmp_path_factory.mktemp("tiny") / "model.tar.gz")


@pytest.fixture(scope="session")
def tiny_model_single_handler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with a single handler(data, context) that calls the TF Serving REST URI itself."""
    return build_tiny_artifact(tmp_path_factory.mktemp("tiny-single") / "model.tar.gz", SINGLE_HANDLER_PY)


@pytest.fixture(scope="session")
def model_server(tiny_model: Path):
    from skinlesion.local.model_server import start_model_server

    server = start_model_server(tiny_model, port=0)
    yield server
    server.stop()
    server.model.close()
