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
    """The KMS keys other than the stack's logs key (`LogsKey…`, see test_storage) and the alarm
    topic's (`MonitoringTopicKey…`, see test_monitoring)."""
    others = ("LogsKey", "MonitoringTopicKey")
    return {k: v for k, v in resources(template, "AWS::KMS::Key").items() if not k.startswith(others)}


def render(value: Any) -> str:
    """A template value as text: Fn::Join/Select/Split evaluated, `Ref`/`GetAtt` as `{Name}`.

    Lets a test read a string that holds a token (the CSP with the API's host) as a whole.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((fn, args),) = value.items()
        if fn == "Ref":
            return "{" + str(args) + "}"
        if fn == "Fn::GetAtt":
            return "{" + ".".join(args) + "}"
        if fn == "Fn::Join":
            return str(args[0]).join(render(part) for part in args[1])
        if fn == "Fn::Select":
            index, parts = args
            split = parts["Fn::Split"] if isinstance(parts, dict) and "Fn::Split" in parts else None
            items = render(split[1]).split(split[0]) if split else [render(p) for p in parts]
            return items[int(index)]
    raise ValueError(f"cannot render {value!r}")
