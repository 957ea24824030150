"""Counts the reliability tests collect for the closing report, printed at the end of the run.

Tests call `record(topic, line)`; tests/reliability/conftest.py prints every line in pytest's
terminal summary, so `pytest tests/reliability` ends with the numbers the issue asks for
(cases tried, status codes seen, faults survived, load, tokens rejected, nag findings left).
"""

from __future__ import annotations

LINES: dict[str, list[str]] = {}


def record(topic: str, line: str) -> None:
    LINES.setdefault(topic, []).append(line)
