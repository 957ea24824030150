"""Shared helpers for the model benchmarks: paths, machine description, docs/benchmarks.md sections."""

from __future__ import annotations

import os
import platform
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "model_src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = os.path.join(REPO, "..", "shared", "data", "isic-dev")
WEIGHTS = os.path.join(
    REPO, "..", "shared", "weights", "mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5"
)
BENCHMARKS_MD = os.path.join(REPO, "docs", "benchmarks.md")


def require_shared() -> None:
    if not os.path.isdir(DATA):
        # Exit 0: `make bench` runs every script, and a missing data set is not a failure.
        print(f"skipped: {DATA} is not present (the model benchmarks need ../shared/data/isic-dev)")
        sys.exit(0)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import tensorflow as tf

    return (
        f"{os.cpu_count()} vCPU {cpu}, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__} (CPU); "
        f"1-min load average at the start {load:.1f} (the 2 cores are shared with other jobs)"
    )


def write_section(title: str, body: str) -> None:
    """Replace the body of `## <title>` in docs/benchmarks.md (up to the next `## `)."""
    with open(BENCHMARKS_MD) as f:
        text = f.read()
    pattern = re.compile(rf"(^## {re.escape(title)}\n)(.*?)(?=^## |\Z)", re.S | re.M)
    if not pattern.search(text):
        raise SystemExit(f"docs/benchmarks.md has no section '## {title}'")
    text = pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n\n", text, count=1)
    with open(BENCHMARKS_MD, "w") as f:
        f.write(text)
    print(f"updated docs/benchmarks.md: {title}")
