"""Where a deployment lives: its API URL and how to sign in to it.

Three sources, in the order the CLI tries them: a CloudFormation stack's outputs
(`--stack NAME`, after `cdk deploy`), the local stack's `.local/stack.json`, and
explicit flags (`--api`, `--client-id`, `--region`) that override either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from skinlesion.client import cognito_endpoint_for

DEFAULT_STACK_FILE = Path(".local") / "stack.json"
# CfnOutput ids of the deployed stack (stacks/stack.py); tests/cli checks they exist in the template.
OUTPUT_API_URL = "ApiUrl"
OUTPUT_USER_POOL_ID = "UserPoolId"
OUTPUT_CLIENT_ID = "UserPoolClientId"
OUTPUT_REGION = "Region"
_POOL_REGION = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d)_")


class TargetError(Exception):
    """The deployment cannot be found or is incompletely described; one line for the user."""


@dataclass(frozen=True)
class Target:
    """Everything needed to call one deployment. Username/password are the local stack's demo user."""

    api_url: str | None
    client_id: str | None = None
    cognito_endpoint: str | None = None
    user_pool_id: str | None = None
    region: str | None = None
    username: str | None = None
    password: str | None = None
    source: str = "flags"

    def with_overrides(
        self,
        *,
        api_url: str | None = None,
        client_id: str | None = None,
        region: str | None = None,
        cognito_endpoint: str | None = None,
    ) -> Target:
        endpoint: str | None
        if cognito_endpoint:
            endpoint = cognito_endpoint
        elif region and region != self.region:  # another region's Cognito, unless told otherwise
            endpoint = cognito_endpoint_for(region)
        else:
            endpoint = self.cognito_endpoint
        region = region or self.region
        if endpoint is None and region:
            endpoint = cognito_endpoint_for(region)
        return replace(
            self,
            api_url=api_url or self.api_url,
            client_id=client_id or self.client_id,
            region=region,
            cognito_endpoint=endpoint,
        )


def default_stack_file(repo_root: Path) -> Path:
    """.local/stack.json in the working folder if there is one, else the repository's (where `up` writes)."""
    here = DEFAULT_STACK_FILE
    return here if here.exists() else repo_root / DEFAULT_STACK_FILE


def region_of_user_pool(user_pool_id: str | None) -> str | None:
    """User pool ids start with their region: `us-east-1_AbC123` -> `us-east-1`."""
    match = _POOL_REGION.match(user_pool_id or "")
    return match.group(1) if match else None


def from_stack_file(path: Path) -> Target:
    """The local stack's stack.json (written by `skinlesion up`)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"{path} not found: start the local stack with `skinlesion up`, "
            "or pass --stack NAME (deployed) or --api URL"
        ) from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not data.get("apiUrl"):
        raise TargetError(f"{path} has no apiUrl: is it the local stack's stack.json?")
    region = data.get("region") or region_of_user_pool(data.get("userPoolId"))
    return Target(
        api_url=data["apiUrl"],
        client_id=data.get("userPoolClientId"),
        cognito_endpoint=data.get("cognitoEndpoint") or (cognito_endpoint_for(region) if region else None),
        user_pool_id=data.get("userPoolId"),
        region=region,
        username=data.get("username"),
        password=data.get("password"),
        source=str(path),
    )


def from_cloudformation(stack_name: str, region: str | None = None) -> Target:
    """The outputs of a deployed stack, read with the caller's AWS credentials."""
    outputs = _stack_outputs(stack_name, region)
    pool_id = _output(outputs, OUTPUT_USER_POOL_ID)
    region = _output(outputs, OUTPUT_REGION) or region_of_user_pool(pool_id) or region
    api_url = _output(outputs, OUTPUT_API_URL)
    if not api_url:
        raise TargetError(f"stack {stack_name} has no {OUTPUT_API_URL} output; is it a skin-lesion stack?")
    return Target(
        api_url=api_url,
        client_id=_output(outputs, OUTPUT_CLIENT_ID),
        cognito_endpoint=cognito_endpoint_for(region) if region else None,
        user_pool_id=pool_id,
        region=region,
        source=f"stack {stack_name}",
    )


def _stack_outputs(stack_name: str, region: str | None) -> dict[str, str]:
    import boto3  # only `--stack` needs it; keep the CLI's start fast
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        client = boto3.client("cloudformation", region_name=region)
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except NoCredentialsError:
        raise TargetError("no AWS credentials to read the stack: run `aws configure` or pass --api") from None
    except NoRegionError:
        raise TargetError("no AWS region: pass --region or set AWS_REGION") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TargetError(f"cannot read stack {stack_name}: {message}") from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _output(outputs: dict[str, str], key: str) -> str | None:
    """An output by its exact key, else the one key that starts with it (outputs made in a construct)."""
    if key in outputs:
        return outputs[key]
    matches = [value for name, value in outputs.items() if name.startswith(key)]
    return matches[0] if len(matches) == 1 else None
