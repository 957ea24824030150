"""API Gateway's account-level CloudWatch role is a knob: an account's own setting is not taken silently.

`AWS::ApiGateway::Account` is one setting per account and region: deploying it replaces
whatever role the account had. `-c apiGatewayCloudWatchRole=false` keeps the account's
(`skinlesion preflight` says when one exists); the default sets the stack's own, which a
fresh account needs for the stage's access and execution logs.
"""

from __future__ import annotations

import pytest

from stacks.config import AppConfig, ConfigError

ACCOUNT = "AWS::ApiGateway::Account"
PUSH_POLICY = "AmazonAPIGatewayPushToCloudWatchLogs"


def _roles_with_push_policy(template) -> list[str]:
    roles = template.find_resources("AWS::IAM::Role")
    return [
        lid for lid, role in roles.items() if PUSH_POLICY in str(role["Properties"].get("ManagedPolicyArns"))
    ]


def test_by_default_the_stack_sets_its_own_api_gateway_logging_role(template):
    accounts = template.find_resources(ACCOUNT)
    assert len(accounts) == 1
    [(lid, account)] = accounts.items()
    [role] = _roles_with_push_policy(template)
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def test_the_knob_off_leaves_the_accounts_setting_alone(synth):
    _, template = synth(model="bundled", apiGatewayCloudWatchRole="false")
    assert template.find_resources(ACCOUNT) == {}
    assert _roles_with_push_policy(template) == []
    # the stage still logs, through the role the account already has
    [stage] = template.find_resources("AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["AccessLogSetting"]["DestinationArn"]


def test_a_bad_value_names_the_knob():
    with pytest.raises(ConfigError, match="apiGatewayCloudWatchRole"):
        AppConfig.from_context({"apiGatewayCloudWatchRole": "maybe"}.get, {})
