"""Finding the deployment: the local stack's stack.json, a CloudFormation stack, and flags."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from skinlesion import targets

STACK_JSON = {
    "webUrl": "http://127.0.0.1:5173/",
    "apiUrl": "http://127.0.0.1:8080",
    "region": "us-east-1",
    "userPoolId": "us-east-1_abc",
    "userPoolClientId": "client123",
    "cognitoEndpoint": "http://127.0.0.1:5055/",
    "username": "demo@example.com",
    "password": "Demo-Passw0rd!",
    "endpointName": "local",
    "modelVersion": "v1",
}


def test_stack_file_gives_api_cognito_and_demo_user(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(STACK_JSON))
    t = targets.from_stack_file(path)
    assert (t.api_url, t.client_id, t.cognito_endpoint) == (
        "http://127.0.0.1:8080",
        "client123",
        "http://127.0.0.1:5055/",
    )
    assert (t.username, t.password, t.region) == ("demo@example.com", "Demo-Passw0rd!", "us-east-1")


def test_flags_override_the_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(STACK_JSON))
    t = targets.from_stack_file(path).with_overrides(api_url="https://api.example/prod/", client_id="other")
    assert (t.api_url, t.client_id, t.cognito_endpoint) == (
        "https://api.example/prod/",
        "other",
        "http://127.0.0.1:5055/",
    )
    t2 = targets.from_stack_file(path).with_overrides(region="eu-west-1")
    assert t2.cognito_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "skinlesion up"), ("{", "not readable JSON"), ("{}", "no apiUrl")]
)
def test_bad_stack_file_says_what_is_wrong(tmp_path: Path, content, reason) -> None:
    path = tmp_path / "stack.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(targets.TargetError, match=reason):
        targets.from_stack_file(path)


def test_region_comes_from_the_user_pool_id() -> None:
    assert targets.region_of_user_pool("eu-central-1_AbC123") == "eu-central-1"
    assert targets.region_of_user_pool("garbage") is None


@pytest.fixture
def aws(moto_cognito, monkeypatch: pytest.MonkeyPatch) -> str:
    """CloudFormation calls go to the session's moto server; returns a fresh stack name."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto_cognito.endpoint)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return f"SkinLesion-{uuid.uuid4().hex[:8]}"


def _deploy(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name="eu-west-1").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def test_cloudformation_outputs_give_api_and_cognito(aws) -> None:
    _deploy(
        aws,
        {
            "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
            "UserPoolId": "eu-west-1_Pool1",
            "UserPoolClientId": "appclient",
            "Region": "eu-west-1",
            "WebUrl": "https://d1.cloudfront.net",
        },
    )
    t = targets.from_cloudformation(aws)
    assert t.api_url == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/"
    assert (t.client_id, t.user_pool_id, t.region) == ("appclient", "eu-west-1_Pool1", "eu-west-1")
    assert t.cognito_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"
    assert t.username is None and t.password is None  # never a demo user for a deployed stack


def test_missing_stack_is_one_line(aws) -> None:
    with pytest.raises(
        targets.TargetError, match="cannot read stack Nope: Stack with id Nope does not exist"
    ):
        targets.from_cloudformation("Nope")


def test_stack_without_api_output_is_named(aws) -> None:
    _deploy(aws, {"Something": "else"})
    with pytest.raises(targets.TargetError, match="no ApiUrl output"):
        targets.from_cloudformation(aws)


def test_output_keys_are_the_ones_the_stack_declares() -> None:
    import ast

    tree = ast.parse((Path(__file__).resolve().parents[2] / "stacks" / "stack.py").read_text())
    declared = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "OUTPUT_KEYS" for t in node.targets)
    )
    wanted = {
        targets.OUTPUT_API_URL,
        targets.OUTPUT_USER_POOL_ID,
        targets.OUTPUT_CLIENT_ID,
        targets.OUTPUT_REGION,
    }
    assert wanted <= set(declared)
