"""Synthesize the real app (app.build) in-process through tests/cdk_harness.py: cdk.json's
context, bundling skipped, stand-ins for the web build and the shipped model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdk_harness import build_stack

from .helpers import SynthFn

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthFn:
    """`synth(**context) -> (stack, Template)`; context values as `-c key=value` would give them."""
    from aws_cdk.assertions import Template

    def run(environ: dict[str, str] | None = None, **context: Any) -> tuple[Any, Template]:
        _, stack = build_stack(tmp_path_factory.mktemp("cdk"), environ, **context)
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
