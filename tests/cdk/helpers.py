"""Small readers over a synthesized template (shared by the CDK tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SynthFn = Callable[..., Any]


def resources(template: Any, kind: str) -> dict[str, dict[str, Any]]:
    """{logical id: resource} of one type, from an assertions Template."""
    return {k: v for k, v in template.to_json()["Resources"].items() if v["Type"] == kind}


def one(template: Any, kind: str) -> dict[str, Any]:
    found = list(resources(template, kind).values())
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def endpoint_keys(template: Any) -> dict[str, dict[str, Any]]:
    """The KMS keys other than the stack's logs key (`LogsKey…`, see test_storage)."""
    return {k: v for k, v in resources(template, "AWS::KMS::Key").items() if not k.startswith("LogsKey")}
