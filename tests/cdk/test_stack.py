"""The stack as a whole: the outputs the CLI reads, and one stack for a plain `cdk deploy`."""

from __future__ import annotations

import json
from typing import Any

from stacks.stack import OUTPUT_KEYS


def test_outputs_are_the_keys_the_cli_reads(template: Any) -> None:
    outputs = template.to_json()["Outputs"]
    assert set(OUTPUT_KEYS) == {
        "WebUrl",
        "ApiUrl",
        "UserPoolId",
        "UserPoolClientId",
        "EndpointName",
        "Region",
    }
    assert set(OUTPUT_KEYS) <= set(outputs)
    assert outputs["Region"]["Value"] == "us-east-1"
    # No trailing slash: clients append "/predict" directly.
    api_url = outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    assert api_url[0] == "https://" and api_url[-1] == "/prod"
    assert "WebsiteDistribution" in json.dumps(outputs["WebUrl"]["Value"])


def test_the_app_has_exactly_one_stack(default_stack: Any) -> None:
    stack, _ = default_stack
    stacks = [child for child in stack.node.root.node.children if child.node.id != "Tree"]
    assert [s.node.id for s in stacks] == ["SkinLesion"]
