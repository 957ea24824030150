"""Fixtures of the reliability suite: one CDK synthesis (with cdk-nag) shared by the CDK tests,
and the run's summary in pytest's terminal report. `local_stack` and `id_token` come from
tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_harness import Synth, synth

from .summary import LINES


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The no-context default stack's template and cdk-nag (AwsSolutions + HIPAA) report, once."""
    return synth(tmp_path_factory.mktemp("cdk"), nag="hipaa")


@pytest.fixture(scope="session")
def synthesized_bundled(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The same with `-c model=bundled`: the shipped model instead of the training pipeline."""
    return synth(tmp_path_factory.mktemp("cdk-bundled"), nag="hipaa", model="bundled")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LINES:
        return
    terminalreporter.section("reliability summary")
    for topic, lines in LINES.items():
        for line in lines:
            terminalreporter.write_line(f"{topic}: {line}")
