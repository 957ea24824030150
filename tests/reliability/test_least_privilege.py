"""Least privilege and HIPAA Security, proven on the synthesized template (no AWS account).

GIVEN the stack as `cdk synth` builds it (cdk.json context), by default (with the training
pipeline) and with the shipped model (`-c model=bundled`)
THEN no Allow statement grants every action of a service, none targets every S3 bucket,
`Resource: *` appears only with actions whose service has no resource-level permissions,
the runtime roles (the predict Lambda's, the SageMaker endpoint's) name exact actions on their
own resources, and every iam:PassRole names one role for one service.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .summary import record

# Actions that may have Resource "*" because the service offers no narrower resource: each
# with the reason. Anything else on "*" fails the test.
STAR_RESOURCE_OK = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions (tracing the Lambda)",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions (tracing the Lambda)",
    "ecr:GetAuthorizationToken": "account-wide ECR login token; no resource ARN exists for it",
    "cloudwatch:PutMetricData": "no resource ARN; SageMaker roles' documented minimum, kept to the "
    "/aws/sagemaker/* namespaces by a condition",
    "servicequotas:ListServiceQuotas": "no resource ARN; reads quota values for the pre-job quota check",
    "servicequotas:ListAWSDefaultServiceQuotas": "no resource ARN; reads AWS's default quota values",
    "cloudfront:CreateInvalidation": "CDK's BucketDeployment handler (not configurable) invalidates the site",
    "cloudfront:GetInvalidation": "CDK's BucketDeployment handler (not configurable) waits on it",
}
# Resource policies where a full-service action is the documented default and needed.
KEY_POLICY_ROOT = "kms:*"  # a KMS key policy must let the account administer the key, or it is lost
ANY_BUCKET = re.compile(r"^arn:[^:]*:s3:::\*")
FULL_ACCESS = re.compile(r"FullAccess|AdministratorAccess|PowerUserAccess")


def render(expr: Any) -> str:
    """A CloudFormation expression as a readable string (`Fn::Join` joined, refs as <...>)."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, dict) and len(expr) == 1:
        ((fn, arg),) = expr.items()
        if fn == "Ref":
            return "arn:aws" if arg == "AWS::Partition" else f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg) if isinstance(arg, list) else arg}>"
        if fn == "Fn::Join":
            return arg[0].join(render(part) for part in arg[1])
        if fn == "Fn::Sub":
            return (arg[0] if isinstance(arg, list) else arg).replace("${AWS::Partition}", "aws")
    return json.dumps(expr, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, "identity" | "resource", statement) for every policy statement."""
    for lid, res in resources.items():
        props, kind = res.get("Properties", {}), res["Type"]
        docs: list[tuple[str, Any]] = []
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(("identity", props["PolicyDocument"]))
        elif kind == "AWS::IAM::Role":
            docs += [("identity", p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif kind == "AWS::KMS::Key":
            docs.append(("resource", props["KeyPolicy"]))
        elif "PolicyDocument" in props:  # bucket policies and other resource policies
            docs.append(("resource", props["PolicyDocument"]))
        for scope, doc in docs:
            for statement in doc["Statement"]:
                yield lid, scope, statement


def allows(synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    return [s for s in statements(synthesized.resources) if s[2]["Effect"] == "Allow"]


@pytest.fixture(scope="module", params=["default", "bundled"])
def synthesized(request: pytest.FixtureRequest):
    """Each variant's template (shadows the conftest fixture of the same name in this module)."""
    return request.getfixturevalue("synthesized_bundled" if request.param == "bundled" else "synthesized")


def test_no_allow_statement_grants_all_actions_of_a_service(synthesized) -> None:
    offenders = []
    for lid, scope, statement in allows(synthesized):
        for action in as_list(statement.get("Action", [])):
            whole = action == "*" or action.endswith(":*")
            if whole and not (
                scope == "resource" and action == KEY_POLICY_ROOT and _is_account_root(statement)
            ):
                offenders.append(f"{lid}: {action}")
    assert not offenders, offenders
    record(
        "least privilege",
        f"[{synthesized.variant}] {len(allows(synthesized))} Allow statements; none grants * or service:*",
    )


def _is_account_root(statement: dict[str, Any]) -> bool:
    principal = render(statement.get("Principal", {}).get("AWS", ""))
    return principal.endswith(":root")


def test_no_statement_targets_every_s3_bucket(synthesized) -> None:
    offenders = [
        f"{lid}: {render(r)}"
        for lid, _, statement in statements(synthesized.resources)
        for r in as_list(statement.get("Resource", []))
        if ANY_BUCKET.match(render(r))
    ]
    assert not offenders, offenders


def test_resource_star_only_for_actions_without_resource_level_permissions(synthesized) -> None:
    used: Counter[str] = Counter()
    for lid, scope, statement in allows(synthesized):
        if scope != "identity" or "*" not in as_list(statement.get("Resource", [])):
            continue
        for action in as_list(statement["Action"]):
            assert action in STAR_RESOURCE_OK, f'{lid} allows {action} on "*"; scope it to a resource'
            used[action] += 1
    record(
        "least privilege",
        f'[{synthesized.variant}] Resource "*" only for {sorted(used)} (see STAR_RESOURCE_OK)',
    )


def test_no_broad_managed_policies(synthesized) -> None:
    arns = [
        render(a)
        for r in synthesized.of_type("AWS::IAM::Role").values()
        for a in r["Properties"].get("ManagedPolicyArns", [])
    ]
    assert not [a for a in arns if FULL_ACCESS.search(a)], arns


def _role_id_of(expr: Any) -> str:
    return expr["Fn::GetAtt"][0] if isinstance(expr, dict) and "Fn::GetAtt" in expr else render(expr)


def _role_actions(synthesized, role_id: str) -> list[tuple[str, list[str]]]:
    """(action, rendered resources) for each statement of the identity policies on `role_id`."""
    found = []
    for res in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in res["Properties"].get("Roles", []):
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                for action in as_list(statement["Action"]):
                    found.append((action, [render(r) for r in as_list(statement["Resource"])]))
    return found


def test_predict_lambda_role_names_exact_actions_on_its_own_resources(synthesized) -> None:
    functions = [
        f
        for f in synthesized.of_type("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "predict_api.app.handler"
    ]
    assert len(functions) == 1
    granted = _role_actions(synthesized, _role_id_of(functions[0]["Properties"]["Role"]))
    (endpoint,) = synthesized.of_type("AWS::SageMaker::Endpoint")
    invoke = [resources for action, resources in granted if action == "sagemaker:InvokeEndpoint"]
    assert invoke == [[f"<{endpoint}>"]], f"InvokeEndpoint must target only the stack's endpoint: {invoke}"
    for action, resources in granted:
        assert "*" not in action, f"the predict Lambda's {action} is a wildcard"
        if action.startswith(("s3:", "sagemaker:")):
            assert all("*" not in r for r in resources), (action, resources)


def test_sagemaker_execution_role_names_exact_actions(synthesized) -> None:
    models = list(synthesized.of_type("AWS::SageMaker::Model").values())
    assert models, "the stack defines a SageMaker model"
    for model in models:
        granted = _role_actions(synthesized, _role_id_of(model["Properties"]["ExecutionRoleArn"]))
        assert granted, "the execution role has an identity policy"
        for action, _ in granted:
            assert "*" not in action, f"the endpoint role's {action} is a wildcard"


# PassRole statements per variant: the training pipeline's provider passes its job role; the
# shipped model needs none. A count, so the loop below cannot pass by finding nothing.
PASS_ROLE_STATEMENTS = {"default": 1, "bundled": 0}


def test_pass_role_names_one_role_for_one_service(synthesized) -> None:
    passes = [(lid, s) for lid, _, s in allows(synthesized) if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) == PASS_ROLE_STATEMENTS[synthesized.variant], [lid for lid, _ in passes]
    for lid, statement in passes:
        assert "*" not in render(statement["Resource"]), f"{lid} may pass any role"
        assert "iam:PassedToService" in json.dumps(statement.get("Condition", {})), (
            f"{lid}: no service condition"
        )
