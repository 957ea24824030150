"""cdk-nag inside the suite: AwsSolutions and HIPAA Security both leave no unacknowledged finding.

cdk-nag's report lists only plugins that found something, so an empty report cannot tell
"no findings" from "the pack never ran". Each synthesis therefore adds a canary stack with
one bare bucket, which both packs must flag; findings anywhere else fail the gate.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import cdk_json_context, make_inputs

# (name, context): the no-context default, training, and an existing artifact on serverless.
VARIANTS = [
    ("default", {}),
    ("train", {"model": "train"}),
    ("existing-serverless", {"modelDataUrl": "s3://my-models/v1/model.tar.gz", "endpointType": "serverless"}),
]


def _nag_synth(root: Path, context: dict[str, Any]) -> dict[str, Any]:
    import aws_cdk as cdk

    from app import build

    outdir = root / "out"
    ctx = cdk_json_context() | {"aws:cdk:bundling-stacks": [], "nag": "hipaa"} | make_inputs(root) | context
    app = cdk.App(context=ctx, outdir=str(outdir))
    build(app, {})
    from aws_cdk import aws_s3 as s3

    s3.CfnBucket(cdk.Stack(app, CANARY), "BareBucket")  # unencrypted, unlogged: every pack flags it
    try:
        app.synth()
    except RuntimeError as err:  # unacknowledged errors (HIPAA's, by design) fail synth after the report
        assert "ValidationFailed" in str(err), err
    return json.loads((outdir / "validation-report.json").read_text())


CANARY = "NagCanary"


def _violations(report: dict[str, Any], plugin: str) -> list[tuple[str, str]]:
    found = []
    for plugin_report in report["pluginReports"]:
        if plugin_report["pluginName"] == plugin:
            for violation in plugin_report["violations"]:
                for construct in violation["violatingConstructs"]:
                    found.append((violation["ruleName"], construct["constructPath"]))
    return found


@pytest.fixture(scope="module", params=VARIANTS, ids=[name for name, _ in VARIANTS])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, context = request.param
    return _nag_synth(tmp_path_factory.mktemp("nag"), context)


def _outside_canary(findings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(rule, path) for rule, path in findings if not path.startswith(f"{CANARY}/")]


@pytest.mark.parametrize("plugin", ["AwsSolutions", "HIPAA.Security"])
def test_the_pack_ran(report: dict[str, Any], plugin: str) -> None:
    assert any(path.startswith(f"{CANARY}/") for _, path in _violations(report, plugin))


def test_aws_solutions_has_no_unacknowledged_findings(report: dict[str, Any]) -> None:
    findings = _outside_canary(_violations(report, "AwsSolutions"))
    assert findings == [], "\n".join(f"{rule} at {path}" for rule, path in findings)


def test_hipaa_security_has_no_unacknowledged_findings(report: dict[str, Any]) -> None:
    findings = _outside_canary(_violations(report, "HIPAA.Security"))
    by_rule = Counter(rule for rule, _ in findings)
    print(f"\nHIPAA Security: {len(findings)} unacknowledged findings in {len(by_rule)} rules")
    assert findings == [], "fix, or acknowledge on the one construct (stacks/nag.py):\n" + "\n".join(
        f"  {rule} at {path}" for rule, path in sorted(findings)
    )
