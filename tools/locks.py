"""Hash-locked Python requirements for `make`'s environments (docs/security.md, "Supply chain").

    requirements/dev.lock         .venv: the project's extras cdk,lambda,model,local,dev, its build
                                  backend (the project installs with --no-build-isolation) and pip
    requirements/tf-serving.lock  .venv-tf220: requirements/tf-serving.in (the inference container's TF)
    requirements/tools.lock       uv, which resolves the locks (`make lock` installs it from here)

`make` installs each lock with `pip install --require-hashes --no-deps`: a file whose sha256 is
not in the lock, or a package the lock does not name, stops the install. Each lock carries the
hashes of every file PyPI has for its pinned versions (uv's universal resolution), so the same
lock installs on another OS or CPU, and Windows-only dependencies come with their markers.

Each lock's header holds the sha256 of its inputs (the dependency lists of pyproject.toml, or the
.in file); `stale()` compares it, and tests/test_requirements_lock.py fails on a stale lock.
Regenerate with `make lock` (this module: `python -m tools.locks [--upgrade]`): without
--upgrade, every version already in a lock is kept where the inputs allow it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements"
PYPROJECT = REPO_ROOT / "pyproject.toml"
REGENERATE = "make lock"
# The Python the environments are built with (CI's image, and `requires-python`'s floor).
PYTHON_VERSION = "3.11"
# The extras `make` installs into .venv (the Makefile's set-up section names the lock, not these).
DEV_EXTRAS = ("cdk", "lambda", "model", "local", "dev")
# Always pinned: pip upgrades itself from the lock, so every environment runs the same pip.
ALWAYS = ("pip",)
HEADER = "# inputs sha256: "


@dataclass(frozen=True)
class Lock:
    name: str  # requirements/<name>.lock
    what: str  # for the header and messages
    source: str  # "pyproject" or an .in file beside the lock

    @property
    def path(self) -> Path:
        return REQUIREMENTS / f"{self.name}.lock"

    def inputs(self, pyproject: Path = PYPROJECT) -> dict[str, object]:
        """What the lock is resolved from; its digest goes into the header."""
        if self.source == "pyproject":
            project = tomllib.loads(pyproject.read_text())
            return {
                "dependencies": project["project"].get("dependencies", []),
                "optional-dependencies": project["project"].get("optional-dependencies", {}),
                "build-system.requires": project["build-system"]["requires"],
                "extras": list(DEV_EXTRAS),
                "always": list(ALWAYS),
            }
        return {"requirements": _requirement_lines(REQUIREMENTS / self.source), "always": list(ALWAYS)}


LOCKS = (
    Lock("dev", "the main .venv (pyproject.toml extras " + ",".join(DEV_EXTRAS) + ")", "pyproject"),
    Lock("tf-serving", ".venv-tf220 (TensorFlow at the inference container's version)", "tf-serving.in"),
    Lock("tools", "the lock tool itself (make lock)", "tools.in"),
)


def digest(inputs: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def stale(lock: Lock, pyproject: Path = PYPROJECT) -> str | None:
    """None when `lock` was made from the current inputs, else what to do about it."""
    if not lock.path.exists():
        return f"{lock.path.relative_to(REPO_ROOT)} is missing: run `{REGENERATE}`"
    if HEADER + digest(lock.inputs(pyproject)) not in lock.path.read_text():
        source = pyproject.name if lock.source == "pyproject" else f"requirements/{lock.source}"
        return (
            f"{lock.path.relative_to(REPO_ROOT)} was made from another {source} "
            f"(its inputs' sha256 differs): run `{REGENERATE}`"
        )
    return None


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit(f"uv is not installed: run `{REGENERATE}` (it installs requirements/tools.lock)")
    return found


def compile_lock(lock: Lock, *, upgrade: bool = False) -> None:
    """Resolve `lock` with uv (asks PyPI) and write it with its header."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "always.in"
        command = [_uv(), "pip", "compile", "--quiet", "--universal", "--python-version", PYTHON_VERSION]
        command += ["--generate-hashes", "--no-header", "--index-url", "https://pypi.org/simple"]
        if lock.source == "pyproject":
            project = tomllib.loads(PYPROJECT.read_text())
            extra.write_text("\n".join([*project["build-system"]["requires"], *ALWAYS]) + "\n")
            command += [str(PYPROJECT.relative_to(REPO_ROOT)), *(f"--extra={x}" for x in DEV_EXTRAS)]
        else:
            extra.write_text("\n".join(ALWAYS) + "\n")
            command += [str((REQUIREMENTS / lock.source).relative_to(REPO_ROOT))]
        out = Path(tmp) / "out.lock"
        if lock.path.exists() and not upgrade:
            shutil.copy(lock.path, out)  # uv keeps the versions it finds in its output file
        command += [str(extra), "-o", str(out)] + (["--upgrade"] if upgrade else [])
        subprocess.run(command, check=True, cwd=REPO_ROOT)
        body = out.read_text().replace(f"-r {extra}", "tools/locks.py (build backend, pip)")
    header = [
        f"# {lock.what}: every package pinned with the sha256 of every file PyPI has for that version.",
        "# `make` installs it with `pip install --require-hashes --no-deps`.",
        f"# Made by `{REGENERATE}` (tools/locks.py, uv --universal, Python {PYTHON_VERSION}); do not edit.",
        HEADER + digest(lock.inputs()),
    ]
    lock.path.write_text("\n".join(header) + "\n" + body)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.locks", description=__doc__.split("\n", 1)[0])
    names = ", ".join(lock.name for lock in LOCKS)
    parser.add_argument("names", nargs="*", help=f"locks to make: {names} (default: all)")
    parser.add_argument("--upgrade", action="store_true", help="take the newest versions the inputs allow")
    parser.add_argument("--check", action="store_true", help="only say which locks are stale (no network)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {lock.name for lock in LOCKS}
    if unknown:
        parser.error(f"unknown lock(s) {sorted(unknown)}")
    chosen = [lock for lock in LOCKS if not args.names or lock.name in args.names]
    if args.check:
        problems = [message for lock in chosen if (message := stale(lock))]
        print("\n".join(problems) or "every lock is current")
        raise SystemExit(1 if problems else 0)
    for lock in chosen:
        compile_lock(lock, upgrade=args.upgrade)
        print(f"wrote {lock.path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
