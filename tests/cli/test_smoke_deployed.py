"""`skinlesion smoke --stack NAME`: the parts that talk to AWS, against moto in-process.

CloudFormation holds a stack with the real output keys (stacks/stack.py's OUTPUT_KEYS);
Cognito holds the user pool the outputs name. The HTTP checks themselves are proven
against the local stack in test_smoke.py.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from skinlesion import smoke

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def _deployed(pool_id: str, client_id: str) -> None:
    outputs = {
        "WebUrl": "https://d111111abcdef8.cloudfront.net",
        "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
        "UserPoolId": pool_id,
        "UserPoolClientId": client_id,
        "EndpointName": "skin-lesion-classifier",
        "Region": REGION,
    }
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="SkinLesion", TemplateBody=json.dumps(template)
    )


def _pool() -> tuple[object, str, str]:
    idp = boto3.client("cognito-idp", region_name=REGION)
    pool = idp.create_user_pool(PoolName="smoke", UsernameAttributes=["email"])["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web")["UserPoolClient"]["ClientId"]
    return idp, pool, client


def test_the_stack_is_found_by_its_outputs(aws):
    _, pool, client = _pool()
    _deployed(pool, client)
    stack = smoke.find_stack("SkinLesion", REGION, None)
    assert not stack.local
    assert stack.web_url == "https://d111111abcdef8.cloudfront.net"
    assert stack.target.api_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    assert (stack.target.user_pool_id, stack.target.client_id) == (pool, client)
    assert stack.target.cognito_endpoint == f"https://cognito-idp.{REGION}.amazonaws.com/"


def test_the_temporary_user_exists_confirmed_during_the_run_and_is_deleted_after(aws):
    idp, pool, client = _pool()
    _deployed(pool, client)
    stack = smoke.find_stack("SkinLesion", REGION, None)
    with smoke.temporary_user(stack) as (username, password):
        user = idp.admin_get_user(UserPoolId=pool, Username=username)
        assert user["UserStatus"] == "CONFIRMED"
        assert len(password) >= 12
    with pytest.raises(ClientError, match="UserNotFoundException"):
        idp.admin_get_user(UserPoolId=pool, Username=username)


def test_the_temporary_user_is_deleted_even_when_the_run_fails(aws):
    idp, pool, client = _pool()
    _deployed(pool, client)
    stack = smoke.find_stack("SkinLesion", REGION, None)
    with pytest.raises(RuntimeError), smoke.temporary_user(stack) as (username, _):
        raise RuntimeError("a check crashed")
    assert idp.list_users(UserPoolId=pool)["Users"] == []


def test_a_missing_stack_exits_2(aws, capsys):
    assert smoke.main(["--stack", "NoSuchStack", "--region", REGION]) == 2
    assert "NoSuchStack" in capsys.readouterr().err


def test_totp_matches_rfc_6238():
    # RFC 6238 appendix B, SHA-1: secret "12345678901234567890", T = 59 s -> 94287082 (8 digits)
    assert smoke.totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at=59) == "287082"
    assert smoke.totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at=1111111109) == "081804"


def test_the_temporary_user_signs_in_with_srp_and_enrols_in_mfa_where_the_pool_requires_it(aws):
    idp = boto3.client("cognito-idp", region_name=REGION)
    pool = idp.create_user_pool(PoolName="cloud", UsernameAttributes=["email"], MfaConfiguration="ON")
    pool_id = pool["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="ON"
    )
    client = idp.create_user_pool_client(  # as the stack's: SRP and refresh only
        UserPoolId=pool_id,
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    _deployed(pool_id, client)
    stack = smoke.find_stack("SkinLesion", REGION, None)
    with smoke.signed_in(stack, smoke.Credentials()) as (token, who):
        assert token.count(".") == 2 and "temporary" in who
    assert idp.list_users(UserPoolId=pool_id)["Users"] == []
