"""Size of the predict Lambda's package and the cold import time of its handler module.

    .venv/bin/python bench/lambda_package.py            # build, measure, update docs/benchmarks.md
    .venv/bin/python bench/lambda_package.py --no-write # print only

The package is built by the stack's own bundler (stacks/bundling.py: pip
`--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.12
--implementation cp --no-compile -r requirements.txt -t DIR`, plus `predict_api/`).
Import time is measured in fresh isolated interpreters on a twin of the package
built the same way for this machine's Python (the 3.12 wheels' C extensions do not
load in 3.11): `python -I` with only the package on sys.path, no bytecode cache
(as in Lambda: the package ships without .pyc and /var/task is read-only), and
again with a warm cache for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lambda_src" / "predict_api"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
SECTION = "## Lambda package and cold import (issue 4)"
RUNS = 7
MODERN_PLATFORM = "manylinux_2_28_x86_64"
Timing = tuple[float, float]  # (wall ms, CPU ms)
UNUSED_PILLOW = (
    "pillow.libs/libavif*",
    "PIL/_avif*",
    "pillow.libs/libharfbuzz*",
    "pillow.libs/libfreetype*",
    "PIL/_imagingft*",
    "PIL/_imagingtk*",
)
# Powertools and its own dependencies (jmespath brings `bin/jp.py`).
POWERTOOLS = ("aws_lambda_powertools", "typing_extensions", "jmespath", "bin")
# Pulled in by Powertools' [tracer] extra (aws-xray-sdk needs botocore), not by our code.
TRACER_DEPS = (
    "aws_xray_sdk",
    "wrapt",
    "botocore",
    "boto3",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "six",
)
# Wall time and CPU time of the import: this build machine is shared, so wall time carries
# other jobs' contention; the process's CPU time is the steadier measure.
_IMPORT_SNIPPET = (
    "import sys, time; sys.path.insert(0, {dir!r}); t, c = time.perf_counter(), time.process_time(); "
    "import predict_api.app; print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)


def build(out: Path, python_version: str) -> None:
    sys.path.insert(0, str(REPO))
    from stacks import bundling  # the stack's bundler, so the bench measures what deploys

    bundler = bundling.PipPlatformBundling(requirements=PACKAGE / "requirements.txt", packages=[PACKAGE])
    command = bundler._pip_command(out)
    command[command.index("--python-version") + 1] = python_version
    if MODERN_PLATFORM not in command:
        # Pillow >= 13 ships no manylinux2014 wheels; Lambda's Python 3.12 (Amazon Linux 2023,
        # glibc 2.34) runs manylinux_2_28 ones, so the stack's bundler needs this platform too.
        print(f"WARNING: stacks/bundling.py lacks --platform {MODERN_PLATFORM}; added here", file=sys.stderr)
        at = command.index("--platform")
        command[at:at] = ["--platform", MODERN_PLATFORM]
    subprocess.run(command, check=True)
    shutil.copytree(PACKAGE, out / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def sizes(root: Path) -> dict[str, int]:
    """Bytes per top-level entry, dist-info folded into its package's group."""
    groups: dict[str, int] = {}
    for entry in root.iterdir():
        name = re.sub(r"[-_.]", "_", entry.name.removesuffix(".py").split("-")[0].lower())
        name = {"python_dateutil": "dateutil", "pillow": "PIL", "pil": "PIL", "pillow_libs": "PIL"}.get(
            name, name
        )
        groups[name] = groups.get(name, 0) + tree_size(entry)
    return groups


def zipped_size(root: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(root))
        return archive.stat().st_size


def import_times(root: Path, *, bytecode: bool) -> list[Timing]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ENDPOINT_NAME": "bench-endpoint",
        "AWS_REGION": "us-east-1",
        "MODEL_METADATA_URI": "/nonexistent/metadata.json",
        "ALLOWED_ORIGIN": "https://example.org",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    times = []
    for _ in range(RUNS):
        if not bytecode:
            for cache in root.rglob("__pycache__"):
                shutil.rmtree(cache)
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _IMPORT_SNIPPET.format(dir=str(root))],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemExit(f"importing predict_api.app from the package failed:\n{result.stderr}")
        wall, cpu = result.stdout.split()
        times.append((float(wall), float(cpu)))
    return times


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def timing(runs: list[Timing]) -> str:
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    return f"**{cpu:.0f} ms CPU**, {wall:.0f} ms wall (min {min(w for w, _ in runs):.0f})"


def unused_codecs(root: Path) -> int:
    """Bytes of Pillow plugins predict_api never loads (AVIF, fonts, Tk): prunable by the bundler."""
    return sum(f.stat().st_size for pattern in UNUSED_PILLOW for f in root.glob(pattern))


def report(groups: dict[str, int], zipped: int, cold: list[Timing], warm: list[Timing], unused: int) -> str:
    total = sum(groups.values())
    powertools = sum(v for k, v in groups.items() if k in POWERTOOLS)
    tracer = sum(v for k, v in groups.items() if k in TRACER_DEPS)
    ours = total - powertools - tracer
    top = ", ".join(f"{k} {mb(v)}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1])[:6])
    rows = [
        ("package, unzipped", f"{mb(total)} (zipped {mb(zipped)})"),
        ("Powertools (with typing_extensions, jmespath)", mb(powertools)),
        ("Powertools [tracer] deps (aws-xray-sdk, botocore, wrapt, ...)", mb(tracer)),
        ("beyond Powertools and its deps (Pillow, predict_api)", f"**{mb(ours)}** (goal <= 20 MB)"),
        ("largest entries", top),
        ("of which Pillow codecs predict_api never loads (AVIF, FreeType/HarfBuzz, Tk)", mb(unused)),
        (f"import of `predict_api.app`, no .pyc (as in Lambda), median of {RUNS}", timing(cold)),
        ("same with a warm bytecode cache", timing(warm)),
    ]
    return "\n".join(
        [
            "Command: `.venv/bin/python bench/lambda_package.py` (builds with the stack's bundler,",
            f"`stacks/bundling.py`; imports run on this machine's Python {platform.python_version()}).",
            "",
            "| what | value |",
            "| --- | --- |",
            *(f"| {what} | {value} |" for what, value in rows),
            "",
            "The import includes building the sagemaker-runtime client (module scope), so the",
            "first request pays no client set-up; Pillow loads on the first upload, not at import.",
            "Of the import's CPU time about 300 ms is aws-xray-sdk's recorder, which builds two",
            "botocore clients when imported (Powertools' Tracer always imports it); without .pyc",
            "files (pip --no-compile for another Python version, read-only /var/task) every cold",
            "start also compiles the bundled botocore. Pillow 13 publishes manylinux_2_28 wheels",
            "only, so the bundler must allow that platform (Lambda's Python 3.12 runs on Amazon",
            "Linux 2023, glibc 2.34); this script adds it when `stacks/bundling.py` lacks it.",
        ]
    )


def write_section(text: str) -> None:
    doc = BENCHMARKS.read_text(encoding="utf-8")
    start = doc.index(SECTION) + len(SECTION)
    following = doc.find("\n## ", start)
    end = len(doc) if following == -1 else following
    BENCHMARKS.write_text(doc[:start] + "\n" + text + "\n" + doc[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the section, leave docs/ alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lambda_dir, local_dir = Path(tmp) / "lambda", Path(tmp) / "local"
        build(lambda_dir, "3.12")
        groups, zipped, unused = sizes(lambda_dir), zipped_size(lambda_dir), unused_codecs(lambda_dir)
        build(local_dir, f"{sys.version_info.major}.{sys.version_info.minor}")
        cold = import_times(local_dir, bytecode=False)
        warm = import_times(local_dir, bytecode=True)
    text = report(groups, zipped, cold, warm, unused)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
