"""cdk-nag inside the suite: AwsSolutions and HIPAA Security both leave no unacknowledged finding.

Each synthesis (tests/cdk_harness.py) adds a canary stack with one bare bucket, which both
packs must flag, so "no findings" cannot hide "the pack never ran"; findings anywhere else
fail the gate.
"""

from __future__ import annotations

from collections import Counter

import pytest
from cdk_harness import Synth, synth

# (name, context): the no-context default, training, and an existing artifact on serverless.
VARIANTS = [
    ("default", {}),
    ("train", {"model": "train"}),
    ("existing-serverless", {"modelDataUrl": "s3://my-models/v1/model.tar.gz", "endpointType": "serverless"}),
]


@pytest.fixture(scope="module", params=VARIANTS, ids=[name for name, _ in VARIANTS])
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    _, context = request.param
    return synth(tmp_path_factory.mktemp("nag"), nag="hipaa", **context)


@pytest.mark.parametrize("plugin", ["AwsSolutions", "HIPAA.Security"])
def test_the_pack_ran(synthesized: Synth, plugin: str) -> None:
    # Synth.violations fails when the pack flagged nothing on the canary: it did not run.
    synthesized.violations(plugin)


def test_aws_solutions_has_no_unacknowledged_findings(synthesized: Synth) -> None:
    findings = synthesized.violations("AwsSolutions")
    assert findings == [], "\n".join(f"{rule} at {path}" for rule, path in findings)


def test_hipaa_security_has_no_unacknowledged_findings(synthesized: Synth) -> None:
    findings = synthesized.violations("HIPAA.Security")
    by_rule = Counter(rule for rule, _ in findings)
    print(f"\nHIPAA Security: {len(findings)} unacknowledged findings in {len(by_rule)} rules")
    assert findings == [], "fix, or acknowledge on the one construct (stacks/nag.py):\n" + "\n".join(
        f"  {rule} at {path}" for rule, path in sorted(findings)
    )
