"""The stack side of `skinlesion batch s3://...`: the outputs it reads and the role scoped to its prefixes.

A small stack composes the real constructs (storage, an existing artifact, the endpoint)
with BatchTransform, so this runs without the web build or the shipped model; cdk-nag's
two packs run over it and must leave no unacknowledged finding on the batch construct.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

pytest.importorskip("aws_cdk", reason="the CDK libraries are the [cdk] extra")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from skinlesion import batch_cloud_plan  # noqa: E402


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    import aws_cdk as cdk

    from stacks.config import EndpointSettings
    from stacks.constructs.batch_transform import BatchTransform
    from stacks.constructs.inference_endpoint import InferenceEndpoint
    from stacks.constructs.model_source import ModelArtifact
    from stacks.constructs.storage import Storage
    from stacks.nag import add_nag_checks

    outdir = tmp_path_factory.mktemp("batch-cdk")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "BatchOnly", env=cdk.Environment(region="us-east-1"))
    storage = Storage(stack, "Storage", retain=False)
    model = ModelArtifact.from_s3_url("s3://my-models/v1/model.tar.gz")
    endpoint = InferenceEndpoint(
        stack, "Inference", model=model, settings=EndpointSettings(), region="us-east-1"
    )
    BatchTransform(stack, "Batch", endpoint=endpoint, bucket=storage.artifacts_bucket)
    add_nag_checks(app, hipaa=True)  # the stack's own wiring of both packs
    try:
        app.synth()
    except RuntimeError as err:  # unacknowledged findings fail synth after the report is written
        assert "ValidationFailed" in str(err), err
    template = json.loads((outdir / "BatchOnly.template.json").read_text())
    return template, json.loads((outdir / "validation-report.json").read_text())


def _batch_policy(template: dict[str, Any]) -> dict[str, Any]:
    policies = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and k.startswith("Batch")
    ]
    assert len(policies) == 1
    return policies[0]["Properties"]


def test_stack_outputs_are_what_the_cli_reads(synthesized) -> None:
    outputs = synthesized[0]["Outputs"]
    for key in (batch_cloud_plan.OUTPUT_MODEL, batch_cloud_plan.OUTPUT_OUTPUT_URI, "BatchInputUri"):
        assert key in outputs
    model = next(k for k, r in synthesized[0]["Resources"].items() if r["Type"] == "AWS::SageMaker::Model")
    assert outputs["BatchModelName"]["Value"] == {"Fn::GetAtt": [model, "ModelName"]}  # the endpoint's model
    assert "batch/output/" in json.dumps(outputs["BatchOutputUri"]["Value"])


def test_role_reads_only_the_input_prefix_and_writes_only_the_output_prefix(synthesized) -> None:
    policy = _batch_policy(synthesized[0])
    statements = {
        tuple(sorted(s["Action"])) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in policy["PolicyDocument"]["Statement"]
    }
    text = json.dumps
    assert text(statements[("s3:GetObject",)]["Resource"]).count("/batch/input/*") == 1
    assert (
        text(statements[("s3:AbortMultipartUpload", "s3:PutObject")]["Resource"]).count("/batch/output/*")
        == 1
    )
    assert statements[("s3:ListBucket",)]["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}
    assert "*" not in [statements[k]["Resource"] for k in statements]
    roles = policy["Roles"]
    endpoint_model = next(
        r for r in synthesized[0]["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
    )
    assert [{"Ref": role["Ref"]} for role in roles] == roles
    assert endpoint_model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0] == roles[0]["Ref"]


@pytest.mark.parametrize("plugin", ["AwsSolutions", "HIPAA.Security"])
def test_cdk_nag_finds_nothing_unacknowledged_in_the_batch_construct(synthesized, plugin) -> None:
    findings = [
        (violation["ruleName"], construct["constructPath"])
        for report in synthesized[1]["pluginReports"]
        if report["pluginName"] == plugin
        for violation in report["violations"]
        for construct in violation["violatingConstructs"]
        if construct["constructPath"].startswith("BatchOnly/Batch/")
    ]
    assert findings == []
