"""Docker-free Lambda bundling: pip's cross-platform wheel install, run on the host.

`aws_lambda_python_alpha.PythonFunction` always builds in Docker, which CI and many
laptops lack. A plain `lambda_.Function` with `Code.from_asset(bundling=...)` and a
local bundler that asks pip for manylinux wheels of the Lambda's Python gives the
same asset without a container. Reused by every Python Lambda in the app (the
predict API and the training pipeline's handlers).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import lesion_contract

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_PYTHON_VERSION = "3.12"
# The Python 3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): wheels for any of these load.
# Pillow 13 ships only manylinux_2_28 wheels, so manylinux2014 alone is not enough.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# Lambda dependencies installed once per requirements content (ignored by git via build/).
REPO_ROOT = Path(__file__).resolve().parent.parent
DEPS_CACHE = REPO_ROOT / "build" / "lambda-deps"
# The API contract package, shipped beside the predict API's own package.
CONTRACT_DIR = Path(lesion_contract.__file__).resolve().parent
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")
# Pillow codecs the predict Lambda never loads (it decodes JPEG/PNG/WebP and writes JPEG):
# AVIF, FreeType/HarfBuzz text rendering (and the Brotli libs only FreeType links) and Tk.
# Checked with `readelf -d`: nothing else in the wheel links these. About 8 MB unzipped.
UNUSED_FILES = (
    "PIL/_avif*",
    "PIL/_imagingft*",
    "PIL/_imagingtk*",
    "pillow.libs/libavif*",
    "pillow.libs/libfreetype*",
    "pillow.libs/libharfbuzz*",
    "pillow.libs/libbrotli*",
)


@jsii.implements(ILocalBundling)
class PipPlatformBundling:
    """Installs `requirements` as Lambda-platform wheels, then copies the package dirs."""

    def __init__(self, *, requirements: Path | None, packages: list[Path]) -> None:
        # The hash lock beside requirements.txt (supply chain: pip refuses any other file).
        self._requirements = checked_lock(requirements) if requirements is not None else None
        self._packages = packages

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        # jsii passes (output_dir, options); the options are for the Docker path we never take.
        out = Path(output_dir)
        if self._requirements is not None:
            shutil.copytree(self._dependencies(), out, dirs_exist_ok=True)
        for package in self._packages:
            shutil.copytree(package, out / package.name, ignore=_IGNORED, dirs_exist_ok=True)
        _precompile(out)
        return True

    def _dependencies(self) -> Path:
        """The installed wheels, cached by the lock's content: PyPI is asked once per change."""
        assert self._requirements is not None
        cached = dependency_dir(self._requirements)
        if not cached.is_dir():
            staging = Path(tempfile.mkdtemp(prefix="deps-", dir=_ensure(DEPS_CACHE)))
            subprocess.run(self._pip_command(staging), check=True)
            _remove_unused(staging)
            staging.rename(cached)  # atomic: a half-finished install is never reused
        return cached

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
            *(arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)),
            "--only-binary=:all:",
            "--require-hashes",  # every wheel must match a sha256 in the lock, or pip stops
            "--no-deps",  # the lock lists the whole tree
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "-r",
            str(self._requirements),
            "-t",
            str(out),
        ]


def dependency_dir(lock: Path) -> Path:
    """Where the wheels of `lock` are installed once (build/lambda-deps/<python>-<key>)."""
    key = hashlib.sha256(lock.read_bytes() + " ".join(LAMBDA_PLATFORMS + UNUSED_FILES).encode()).hexdigest()
    return DEPS_CACHE / f"{LAMBDA_PYTHON_VERSION}-{key[:16]}"


LOCK_NAME = "requirements.lock"
_LOCK_HEADER = "# sha256 of requirements.txt: "


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checked_lock(requirements: Path) -> Path:
    """`requirements.lock` beside `requirements`, when it was made from exactly that file."""
    lock = requirements.with_name(LOCK_NAME)
    command = f"python -m stacks.bundling lock {requirements.parent}"
    if not lock.exists():
        raise FileNotFoundError(f"{lock} is missing: run `{command}`")
    if _LOCK_HEADER + _digest(requirements) not in lock.read_text():
        raise ValueError(f"{lock} was made from another {requirements.name}: run `{command}`")
    return lock


def lock_text(requirements: Path) -> str:
    """Every wheel the Lambda bundle would install, pinned with its sha256 (asks PyPI via pip)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
            "--disable-pip-version-check", "--report", str(report), "--only-binary=:all:",
            *(arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)),
            "--python-version", LAMBDA_PYTHON_VERSION, "--implementation", "cp", "-r", str(requirements),
        ]  # fmt: skip
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    lines = [
        f"# The {requirements.parent.name} Lambda's wheels for Python {LAMBDA_PYTHON_VERSION} (manylinux "
        "x86_64), pinned with their sha256; stacks/bundling.py installs them with --require-hashes.",
        f"# Made by `python -m stacks.bundling lock {requirements.parent.relative_to(REPO_ROOT)}`; "
        "do not edit.",
        _LOCK_HEADER + _digest(requirements),
    ]
    for item in sorted(installs, key=lambda i: i["metadata"]["name"].lower()):
        sha = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{item['metadata']['name']}=={item['metadata']['version']} \\\n    --hash=sha256:{sha}")
    return "\n".join(lines) + "\n"


def _remove_unused(root: Path) -> None:
    for pattern in UNUSED_FILES:
        for path in root.glob(pattern):
            path.unlink()


def _precompile(out: Path) -> None:
    """Ship Python 3.12 bytecode when a 3.12 interpreter is at hand.

    /var/task is read-only, so without .pyc files every cold start compiles every
    module it imports (about 600 ms of CPU for this handler). The bytecode must come
    from the runtime's minor version; where none is installed the bundle simply ships
    sources, which is correct, only slower to start.
    """
    python = _runtime_python()
    if python is None:
        return
    # unchecked-hash: the files' mtimes change when CDK copies the asset; the bytecode stays valid.
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(out)],
        check=False,
        capture_output=True,
    )


def _runtime_python() -> str | None:
    """A local interpreter of the Lambda's minor version (on PATH, or a pyenv install), if any."""
    name = f"python{LAMBDA_PYTHON_VERSION}"
    candidates = [
        shutil.which(name),
        *sorted(Path.home().glob(f".pyenv/versions/{LAMBDA_PYTHON_VERSION}.*/bin/{name}")),
    ]
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == LAMBDA_PYTHON_VERSION:
            return str(candidate)
    return None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def python_lambda_code(package_dir: Path, *, shared: Sequence[Path] = ()) -> lambda_.Code:
    """Asset whose root holds the folder `package_dir`, the `shared` packages beside it, and the
    wheels of `package_dir/requirements.txt` (optional: the third-party deps).

    The asset hash is the sources' (every package and the requirements), so an unchanged
    function reuses the staged bundle in `cdk.out` without running pip again; editing
    any of them re-bundles. Tests skip bundling with context `aws:cdk:bundling-stacks: []`.
    """
    package_dir = package_dir.resolve()
    packages = [package_dir, *(path.resolve() for path in shared)]
    requirements = package_dir / "requirements.txt"
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(packages),
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds or raises.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            command=["false"],
            local=PipPlatformBundling(
                requirements=requirements if requirements.exists() else None, packages=packages
            ),
        ),
    )


def source_hash(packages: Sequence[Path]) -> str:
    """A digest of every source file (name and bytes) of `packages`, bytecode caches left out."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(f"{package.name}/{path.relative_to(package).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m stacks.bundling lock DIR`: write DIR/requirements.lock from DIR/requirements.txt."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "lock":
        raise SystemExit("usage: python -m stacks.bundling lock <package dir with requirements.txt>")
    package_dir = Path(args[1]).resolve()
    (package_dir / LOCK_NAME).write_text(lock_text(package_dir / "requirements.txt"))


if __name__ == "__main__":
    main()
