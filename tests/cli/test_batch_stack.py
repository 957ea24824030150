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
    BatchTransform(
        stack, "Batch", endpoint=endpoint, model=model, bucket=storage.artifacts_bucket, region="us-east-1"
    )
    add_nag_checks(app, hipaa=True)  # the stack's own wiring of both packs
    try:
        app.synth()
    except RuntimeError as err:  # unacknowledged findings fail synth after the report is written
        assert "ValidationFailed" in str(err), err
    template = json.loads((outdir / "BatchOnly.template.json").read_text())
    return template, json.loads((outdir / "validation-report.json").read_text())


def _models(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::SageMaker::Model"}


def _policy_of(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and role_prefix in json.dumps(r["Properties"]["Roles"])
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_stack_outputs_are_what_the_cli_reads(synthesized) -> None:
    template = synthesized[0]
    outputs = template["Outputs"]
    for key in (batch_cloud_plan.OUTPUT_MODEL, batch_cloud_plan.OUTPUT_OUTPUT_URI, "BatchInputUri"):
        assert key in outputs
    batch_model = next(k for k in _models(template) if k.startswith("Batch"))
    assert outputs["BatchModelName"]["Value"] == {"Fn::GetAtt": [batch_model, "ModelName"]}
    assert "batch/output/" in json.dumps(outputs["BatchOutputUri"]["Value"])


def test_the_batch_model_runs_the_endpoints_container_with_its_own_role(synthesized) -> None:
    models = _models(synthesized[0])
    (endpoint,) = [m for k, m in models.items() if k.startswith("Inference")]
    (batch,) = [m for k, m in models.items() if k.startswith("Batch")]
    assert batch["Properties"]["PrimaryContainer"] == endpoint["Properties"]["PrimaryContainer"]
    roles = {m["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0] for m in (endpoint, batch)}
    assert len(roles) == 2


def test_role_reads_only_the_input_prefix_and_writes_only_the_output_prefix(synthesized) -> None:
    statements = _policy_of(synthesized[0], "BatchRole")
    by_action = {json.dumps(s["Action"]): s for s in statements}
    reads = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    assert any(json.dumps(s["Resource"]).endswith('/batch/input/*"]]}') for s in reads)
    assert any(json.dumps(s["Resource"]).endswith('/model.tar.gz"]]}') for s in reads) and len(reads) == 2
    writes = by_action['["s3:PutObject", "s3:AbortMultipartUpload"]']
    assert json.dumps(writes["Resource"]).endswith('/batch/output/*"]]}')
    assert by_action['"s3:ListBucket"']["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}
    assert not [s for s in statements if s["Resource"] == "*" and "s3:" in json.dumps(s["Action"])]
    # AND the endpoint's role gets nothing of the batch prefixes
    assert "batch/" not in json.dumps(_policy_of(synthesized[0], "InferenceExecutionRole"))


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
