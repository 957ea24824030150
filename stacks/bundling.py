"""Docker-free Lambda bundling: pip's cross-platform wheel install, run on the host.

`aws_lambda_python_alpha.PythonFunction` always builds in Docker, which CI and many
laptops lack. A plain `lambda_.Function` with `Code.from_asset(bundling=...)` and a
local bundler that asks pip for manylinux wheels of the Lambda's Python gives the
same asset without a container. Reused by every Python Lambda in the app (the
predict API and the training pipeline's handlers).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_x86_64"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


@jsii.implements(ILocalBundling)
class PipPlatformBundling:
    """Installs `requirements` as Lambda-platform wheels, then copies the package dirs."""

    def __init__(self, *, requirements: Path | None, packages: list[Path]) -> None:
        self._requirements = requirements
        self._packages = packages

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        # jsii passes (output_dir, options); the options are for the Docker path we never take.
        out = Path(output_dir)
        if self._requirements is not None:
            subprocess.run(self._pip_command(out), check=True)
        for package in self._packages:
            shutil.copytree(package, out / package.name, ignore=_IGNORED, dirs_exist_ok=True)
        return True

    def _pip_command(self, out: Path) -> list[str]:
        # --no-compile: the host's Python would write .pyc files for the wrong version.
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--platform",
            LAMBDA_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "-r",
            str(self._requirements),
            "-t",
            str(out),
        ]


def python_lambda_code(package_dir: Path) -> lambda_.Code:
    """Asset whose root holds the folder `package_dir` plus the wheels of its requirements.txt.

    `package_dir/requirements.txt` (optional) lists the third-party deps. The asset
    hash is the source's, so an unchanged package reuses the staged bundle in
    `cdk.out` without running pip again; editing the code or the requirements
    re-bundles. Tests skip bundling with context `aws:cdk:bundling-stacks: []`.
    """
    package_dir = package_dir.resolve()
    requirements = package_dir / "requirements.txt"
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash_type=AssetHashType.SOURCE,
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds or raises.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            command=["false"],
            local=PipPlatformBundling(
                requirements=requirements if requirements.exists() else None, packages=[package_dir]
            ),
        ),
    )
