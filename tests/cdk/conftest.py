"""Synthesize the real app (app.build) in-process with cdk.json's context, bundling skipped.

Plain `App()` ignores cdk.json, whose feature flags change the template, so the
context is loaded from it. The web build and the shipped model are stood in for by
a tiny index.html and a tiny model.tar.gz made here, so these tests neither need
`make web-build` nor depend on the model issue's artifact.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from .helpers import SynthFn

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def cdk_json_context() -> dict[str, Any]:
    return json.loads((REPO / "cdk.json").read_text())["context"]


def make_inputs(root: Path) -> dict[str, str]:
    """A site folder with index.html and a model.tar.gz with a metadata.json inside."""
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<!doctype html><title>test</title>")
    model_dir = root / "model"
    model_dir.mkdir(exist_ok=True)
    metadata = json.dumps({"version": "test", "class_names": ["benign", "malignant"]}).encode()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    return {"siteDir": str(site), "bundledModelPath": str(model_dir / "model.tar.gz")}


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthFn:
    """`synth(**context) -> (stack, Template)`; context values as `-c key=value` would give them."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from app import build

    root = tmp_path_factory.mktemp("cdk")
    inputs = make_inputs(root)

    def run(environ: dict[str, str] | None = None, **context: Any) -> tuple[Any, Template]:
        ctx = cdk_json_context() | {"aws:cdk:bundling-stacks": []} | inputs | context
        app = cdk.App(context=ctx, outdir=str(tmp_path_factory.mktemp("out")))
        stack = build(app, environ or {})
        return stack, Template.from_stack(stack)

    return run


@pytest.fixture(scope="session")
def default_stack(synth: SynthFn) -> tuple[Any, Any]:
    """The stack as `cdk deploy -c model=bundled` gives it: every construct of this part at its defaults.

    The model source is pinned to the bundled artifact so these tests see the
    endpoint, API, auth, storage and site without the training pipeline (tested
    in tests/training); tests/cdk/test_stack.py checks the true no-context default.
    """
    return synth(model="bundled")


@pytest.fixture(scope="session")
def template(default_stack: tuple[Any, Any]) -> Any:
    return default_stack[1]
