"""The stack as a whole: the outputs the CLI reads, and one stack for a plain `cdk deploy`."""

from __future__ import annotations

import json
from typing import Any

from skinlesion import targets


def test_the_cli_finds_the_api_and_sign_in_in_the_stacks_outputs(template: Any, monkeypatch) -> None:
    # GIVEN the outputs as `aws cloudformation describe-stacks` would list them after a deploy
    outputs = template.to_json()["Outputs"]
    deployed = {key: f"<{key}>" for key in outputs}
    deployed["Region"] = outputs["Region"]["Value"]
    monkeypatch.setattr(targets, "_stack_outputs", lambda name, region: deployed)

    # WHEN `skinlesion predict --stack SkinLesion` resolves its target
    target = targets.from_cloudformation("SkinLesion")

    # THEN it has the API, the app client and the region's Cognito endpoint
    assert (target.api_url, target.client_id, target.user_pool_id) == (
        "<ApiUrl>",
        "<UserPoolClientId>",
        "<UserPoolId>",
    )
    assert target.region == "us-east-1"
    assert target.cognito_endpoint == "https://cognito-idp.us-east-1.amazonaws.com/"
    assert {"WebUrl", "EndpointName"} <= set(outputs)  # what `cdk deploy` prints for people
    # No trailing slash: clients append "/predict" directly.
    api_url = outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    assert api_url[0] == "https://" and api_url[-1] == "/prod"
    assert "WebsiteDistribution" in json.dumps(outputs["WebUrl"]["Value"])


def test_the_app_has_exactly_one_stack(default_stack: Any) -> None:
    stack, _ = default_stack
    stacks = [child for child in stack.node.root.node.children if child.node.id != "Tree"]
    assert [s.node.id for s in stacks] == ["SkinLesion"]
