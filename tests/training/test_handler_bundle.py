"""The training handlers' Lambda bundle imports on its own, as the Lambda runtime would load it.

The bundle is built by the stack's own local bundler with the packages the construct ships
(`training_cr` and the `lesion_contract` package it imports). It is then imported by a
Python started without site-packages (`-S`), so neither the editable install nor the repo
can stand in for a missing package; only boto3 and its dependencies, which the Lambda
runtime provides, are put beside it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cdk_harness as harness
import pytest

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _runtime_site(tmp_path: Path) -> Path:
    """A folder holding only what the Lambda Python runtime ships besides the standard library."""
    site = tmp_path / "runtime"
    site.mkdir()
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
    return site


def _shipped_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders the stack asks the bundler to ship for the training handlers."""
    from stacks import bundling
    from stacks.constructs import training_handlers

    asked: list[list[Path]] = []

    def record(package_dir: Path, *, shared: Sequence[Path] = ()) -> Any:
        asked.append([package_dir, *shared])
        return bundling.python_lambda_code(package_dir, shared=shared)

    monkeypatch.setattr(training_handlers, "python_lambda_code", record)
    harness.build_stack(tmp_path / "synth", model="train")
    packages = {tuple(p) for p in asked if p[0] == training_handlers.HANDLER_PACKAGE}
    assert len(packages) == 1, asked  # both handlers ship the same folders
    return list(packages.pop())


def test_the_training_handlers_bundle_imports_without_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks.bundling import PipPlatformBundling

    bundle = tmp_path / "asset"
    bundle.mkdir()
    packages = _shipped_packages(tmp_path, monkeypatch)
    assert PipPlatformBundling(requirements=None, packages=packages).try_bundle(str(bundle))
    code = (
        "import training_cr.custom_resource, training_cr.job_events, lesion_contract.quotas, sys;"
        "print(training_cr.custom_resource.quotas.__file__)"
    )
    env = {"PYTHONPATH": f"{bundle}{os.pathsep}{_runtime_site(tmp_path)}", "PATH": os.environ.get("PATH", "")}
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(bundle))  # the quota check came from the bundle itself
