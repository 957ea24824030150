"""The README's curl recipe (docs/cli.md), run as written against the local stack.

The block is taken from docs/cli.md and run by bash unchanged: `aws cloudformation
describe-stacks` reads outputs from a moto CloudFormation stack that points at the local
stack, `skinlesion token` signs in to the local Cognito (SRP, the flow the cloud client
allows; moto does not check the proof), and curl posts the image to the local API. Only the
AWS endpoints are redirected, by environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e
DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def recipe() -> str:
    match = re.search(
        r"<!-- curl-recipe:start -->\n```bash\n(.*?)```\n<!-- curl-recipe:end -->", DOC.read_text(), re.S
    )
    assert match, "docs/cli.md lost its curl recipe markers"
    return match.group(1)


@pytest.fixture
def lesion_jpg(tmp_path: Path) -> Path:
    shipped = sorted((DOC.parents[1] / "tests" / "data").glob("*.jpg"))
    path = tmp_path / "lesion.jpg"
    if shipped:
        shutil.copy(shipped[0], path)
    else:
        Image.new("RGB", (300, 300), (170, 110, 90)).save(path, format="JPEG")
    return path


def _check_answer(stdout: str, local_stack: dict) -> None:
    answer = json.loads(stdout)
    assert answer["label"] in ("benign", "malignant")
    assert set(answer["probabilities"]) == {"benign", "malignant"}
    assert answer["model"]["version"] == local_stack["modelVersion"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_request_shape_with_a_local_token(local_stack: dict, id_token: str, lesion_jpg: Path) -> None:
    curl = recipe()[recipe().index("curl -sS") :]  # the recipe's own curl command
    env = {**os.environ, "API": local_stack["apiUrl"], "TOKEN": id_token}
    done = subprocess.run(["bash", "-c", curl], cwd=lesion_jpg.parent, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    _check_answer(done.stdout, local_stack)


@pytest.mark.skipif(
    shutil.which("aws") is None or shutil.which("curl") is None, reason="needs the AWS CLI and curl"
)
def test_recipe_runs_as_written_against_the_local_stack(
    local_stack, moto_cognito, lesion_jpg, tmp_path
) -> None:
    # GIVEN a CloudFormation stack named as in the recipe whose outputs point at the local stack
    boto3.client("cloudformation", endpoint_url=moto_cognito.endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_stack(
        StackName="SkinLesion",
        TemplateBody=json.dumps({
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ApiUrl": {"Value": local_stack["apiUrl"]},
                        "UserPoolClientId": {"Value": local_stack["userPoolClientId"]},
                        "UserPoolId": {"Value": local_stack["userPoolId"]},
                        "Region": {"Value": "us-east-1"}},
        }),
    )  # fmt: skip
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_CLOUDFORMATION": moto_cognito.endpoint,
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": local_stack["cognitoEndpoint"],
        "AWS_ACCESS_KEY_ID": "testing",  # describe-stacks is signed; initiate-auth needs no credentials
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        # `skinlesion token` as installed in this environment; its token cache out of the way
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SKINLESION_CACHE_DIR": str(tmp_path / "cache"),
    }
    # WHEN the recipe runs as written, answering its two prompts
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", recipe()], cwd=lesion_jpg.parent, env=env,
                          input=f"{local_stack['username']}\n{local_stack['password']}\n",
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    # THEN curl prints the API's classification
    assert done.returncode == 0, done.stderr
    _check_answer(done.stdout.strip().splitlines()[-1], local_stack)
