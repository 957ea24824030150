"""`skinlesion preflight` against AWS responses served by botocore's Stubber.

Every client (STS, CloudFormation, SSM, Service Quotas, ECR) is a real boto3 client
whose Stubber checks each request against the service's API model and answers with
the documented response shape: the quota 0, enough-quota and API-error cases are
held to the real APIs without an account. The plan itself comes from this checkout's
stack config (cdk.json + `-c`), as `cdk deploy` would read it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from skinlesion import cli, preflight

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DLC = "763104351884"
DEFAULT_QUOTAS = {  # the default settings: p3 training, the import's m5.xlarge, an m5.large endpoint
    "ml.p3.2xlarge for training job usage": "L-2E2D5B8B",
    "ml.m5.xlarge for processing job usage": "L-PROC0001",
    "ml.m5.large for endpoint usage": "L-ENDP0001",
}


class Aws:
    """One Stubber-backed client per service, handed to preflight as its client factory."""

    def __init__(self) -> None:
        self.clients: dict[str, object] = {}
        self.stubs: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubs:
            client = boto3.client(
                service,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - the Stubber answers, nothing is sent
            )
            self.clients[service] = client
            self.stubs[service] = Stubber(client)
            self.stubs[service].activate()
        return self.stubs[service]

    def __call__(self, service: str) -> object:
        self.stub(service)
        return self.clients[service]

    # --- the usual answers -------------------------------------------------------------------
    def identity(self) -> None:
        self.stub("sts").add_response(
            "get_caller_identity",
            {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev"},
            {},
        )

    def bootstrapped(self, version: str = "28") -> None:
        self.stub("cloudformation").add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "CDKToolkit",
                        "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        "StackStatus": "UPDATE_COMPLETE",
                    }
                ]
            },
            {"StackName": "CDKToolkit"},
        )
        self.stub("ssm").add_response(
            "get_parameter",
            {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Type": "String", "Value": version}},
            {"Name": "/cdk-bootstrap/hnb659fds/version"},
        )

    def quotas(self, values: dict[str, float]) -> None:
        quotas = [
            {"ServiceCode": "sagemaker", "QuotaCode": code, "QuotaName": name, "Value": value}
            for name, value in values.items()
            for code in [DEFAULT_QUOTAS.get(name, "L-OTHER001")]
        ]
        self.stub("service-quotas").add_response(
            "list_service_quotas", {"Quotas": quotas}, {"ServiceCode": "sagemaker", "MaxResults": 100}
        )

    def api_account(self, role_arn: str | None = None) -> None:
        response = {"cloudwatchRoleArn": role_arn} if role_arn else {}
        self.stub("apigateway").add_response("get_account", response, {})

    def lambda_account(self, unreserved: int = 1000, total: int = 1000) -> None:
        limits = {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": total,
            "UnreservedConcurrentExecutions": unreserved,
        }
        usage = {"TotalCodeSize": 0, "FunctionCount": 0}
        self.stub("lambda").add_response(
            "get_account_settings", {"AccountLimit": limits, "AccountUsage": usage}, {}
        )

    def images(self, *missing: str) -> None:
        for repository, tag in (
            ("tensorflow-training", "2.21-gpu-py312"),
            ("tensorflow-training", "2.21-cpu-py312"),
            ("tensorflow-inference", "2.20-cpu-py312"),
        ):
            params = {"registryId": DLC, "repositoryName": repository, "imageIds": [{"imageTag": tag}]}
            if tag in missing:
                self.stub("ecr").add_client_error(
                    "describe_images",
                    service_error_code="ImageNotFoundException",
                    service_message=f"The image with imageId {{imageTag:'{tag}'}} does not exist",
                    expected_params=params,
                )
            else:
                detail = {"registryId": DLC, "repositoryName": repository, "imageTags": [tag]}
                self.stub("ecr").add_response("describe_images", {"imageDetails": [detail]}, params)


@pytest.fixture
def aws() -> Iterator[Aws]:
    stubs = Aws()
    yield stubs
    for stub in stubs.stubs.values():
        stub.assert_no_pending_responses()  # every call the test expected was made


def _run(aws: Aws, capsys, *args: str) -> tuple[int, str]:
    code = preflight.main(["--region", REGION, *args], clients=aws)
    return code, capsys.readouterr().out


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(name))


def test_a_ready_account_passes_every_check_and_exits_0(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 2.0))
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 0, out
    assert "Ready to deploy." in out
    assert " ok " in _row(out, "Lambda reserved concurrency")
    assert f"account {ACCOUNT}" in _row(out, "credentials")
    assert f"{REGION} (from --region)" in _row(out, "region")
    assert "28 (>= 6)" in _row(out, "CDK bootstrap version")
    for name in DEFAULT_QUOTAS:
        assert " ok " in _row(out, f"quota: {name}")
    assert "BLOCKER" not in out


def test_a_zero_gpu_training_quota_blocks_with_its_value_need_and_request_command(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.quotas({**dict.fromkeys(DEFAULT_QUOTAS, 1.0), "ml.p3.2xlarge for training job usage": 0.0})
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 1
    row = _row(out, "quota: ml.p3.2xlarge for training job usage")
    assert "BLOCKER" in row and "0 < 1 needed (training job)" in row
    assert (
        "aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code L-2E2D5B8B "
        f"--desired-value 1 --region {REGION}"
    ) in out
    assert (
        f"https://{REGION}.console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/L-2E2D5B8B"
        in out
    )
    assert "1 blocker(s)" in out


def test_spot_training_is_checked_against_the_spot_quota(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.quotas(
        {
            "ml.p3.2xlarge for training job usage": 4.0,
            "ml.p3.2xlarge for spot training job usage": 0.0,
            "ml.m5.xlarge for processing job usage": 1.0,
            "ml.m5.large for endpoint usage": 1.0,
        }
    )
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys, "-c", "trainingSpot=true")
    assert code == 1
    assert "BLOCKER" in _row(out, "quota: ml.p3.2xlarge for spot training job usage")
    assert "quota: ml.p3.2xlarge for training job usage" not in out  # on-demand is not what runs


def test_a_service_quotas_api_error_is_a_warning_not_a_blocker(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.stub("service-quotas").add_client_error(
        "list_service_quotas",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: servicequotas:ListServiceQuotas",
    )
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 0
    row = _row(out, "quota: ml.p3.2xlarge for training job usage")
    assert " warn " in row and "AccessDeniedException" in row
    assert "servicequotas/home/services/sagemaker/quotas" in out  # where to look instead


def test_no_credentials_is_a_blocker_and_nothing_else_is_called(aws, capsys):
    aws.stub("sts").add_client_error(
        "get_caller_identity", service_error_code="ExpiredToken", service_message="The security token expired"
    )
    code, out = _run(aws, capsys)
    assert code == 1
    assert "BLOCKER" in _row(out, "credentials") and "aws sso login" in out
    assert set(aws.stubs) == {"sts"}


def test_an_unbootstrapped_region_blocks_with_the_bootstrap_command(aws, capsys):
    aws.identity()
    aws.stub("cloudformation").add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id CDKToolkit does not exist",
    )
    aws.stub("ssm").add_client_error("get_parameter", service_error_code="ParameterNotFound")
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 1.0))
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 1
    assert "BLOCKER" in _row(out, "CDKToolkit stack")
    assert "BLOCKER" in _row(out, "CDK bootstrap version")
    assert f"npx cdk bootstrap aws://{ACCOUNT}/{REGION}" in out


def test_an_old_bootstrap_version_blocks(aws, capsys):
    aws.identity()
    aws.bootstrapped(version="5")
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 1.0))
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 1 and "5 < 6" in _row(out, "CDK bootstrap version")


def test_a_missing_container_image_in_the_region_blocks(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 1.0))
    aws.images("2.21-gpu-py312")
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 1
    assert "BLOCKER" in _row(out, "image (training)") and "ImageNotFoundException" in out


def test_json_output_lists_every_check(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 2.0))
    aws.images()
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys, "--json")
    body = json.loads(out)
    assert code == 0 and body["region"] == REGION
    assert {c["status"] for c in body["checks"]} == {"ok"}
    # credentials, region, bootstrap x2, quotas, images, API Gateway role, Lambda concurrency
    assert len(body["checks"]) == 2 + 2 + 3 + 3 + 1 + 1


def test_a_bundled_model_on_serverless_needs_no_instance_quota(aws, capsys):
    aws.identity()
    aws.bootstrapped()
    aws.stub("ecr").add_response(
        "describe_images",
        {"imageDetails": []},
        {
            "registryId": DLC,
            "repositoryName": "tensorflow-inference",
            "imageIds": [{"imageTag": "2.20-cpu-py312"}],
        },
    )
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys, "-c", "model=bundled", "-c", "endpointType=serverless")
    assert code == 0
    assert "quota:" not in out and "no import or training job runs" in out
    assert "service-quotas" not in aws.stubs


def test_a_bad_context_value_exits_2_with_the_knob_named(aws, capsys):
    code = preflight.main(["--region", REGION, "-c", "trainingSpot=maybe"], clients=aws)
    assert code == 2
    assert "trainingSpot" in capsys.readouterr().err
    assert aws.stubs == {}


def test_the_bootstrap_version_floor_is_what_this_apps_synth_requires(tmp_path):
    import aws_cdk as cdk

    app = cdk.App(outdir=str(tmp_path))
    cdk.CfnOutput(cdk.Stack(app, "Probe"), "Out", value="x")
    app.synth()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    required = {
        a["properties"].get("requiresBootstrapStackVersion")
        for a in manifest["artifacts"].values()
        if a.get("type") == "aws:cloudformation:stack"
    }
    assert required == {preflight.MIN_BOOTSTRAP_VERSION}


def test_the_command_is_skinlesion_preflight(capsys):
    assert cli.main(["preflight", "--region", REGION, "-c", "trainingSpot=maybe"]) == 2  # before any AWS call
    assert "skinlesion preflight: context 'trainingSpot'" in capsys.readouterr().err


def _ready(aws: Aws) -> None:
    aws.identity()
    aws.bootstrapped()
    aws.quotas(dict.fromkeys(DEFAULT_QUOTAS, 1.0))
    aws.images()


FOREIGN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform-team-apigw-logs"


def test_an_api_gateway_logging_role_the_account_has_is_not_taken_over_silently(aws, capsys):
    _ready(aws)
    aws.api_account(FOREIGN_ROLE)
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 1
    row = _row(out, "API Gateway CloudWatch role")
    assert "BLOCKER" in row and FOREIGN_ROLE in row and "would replace it" in row
    assert "-c apiGatewayCloudWatchRole=false (recommended)" in out


def test_the_knob_off_keeps_the_accounts_role(aws, capsys):
    _ready(aws)
    aws.api_account(FOREIGN_ROLE)
    aws.lambda_account()
    code, out = _run(aws, capsys, "-c", "apiGatewayCloudWatchRole=false")
    assert code == 0 and f"kept: {FOREIGN_ROLE}" in _row(out, "API Gateway CloudWatch role")


def test_taking_the_role_over_on_purpose_is_a_warning(aws, capsys):
    _ready(aws)
    aws.api_account(FOREIGN_ROLE)
    aws.lambda_account()
    code, out = _run(aws, capsys, "-c", "apiGatewayCloudWatchRole=true")
    assert code == 0 and " warn " in _row(out, "API Gateway CloudWatch role")


def test_the_stacks_own_role_from_an_earlier_deploy_is_fine(aws, capsys):
    _ready(aws)
    aws.api_account(f"arn:aws:iam::{ACCOUNT}:role/SkinLesion-ApiRestApiCloudWatchRoleE3ED6605-AbC123")
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 0 and "this stack's own" in _row(out, "API Gateway CloudWatch role")


def test_the_knob_off_without_a_role_in_the_account_blocks(aws, capsys):
    _ready(aws)
    aws.api_account(None)
    aws.lambda_account()
    code, out = _run(aws, capsys, "-c", "apiGatewayCloudWatchRole=false")
    assert code == 1 and "BLOCKER" in _row(out, "API Gateway CloudWatch role")


def test_an_endpoint_quota_without_room_for_a_model_update_is_a_warning(aws, capsys):
    _ready(aws)  # every quota 1: enough to deploy one ml.m5.large
    aws.api_account()
    aws.lambda_account()
    code, out = _run(aws, capsys)
    assert code == 0
    row = _row(out, "quota: ml.m5.large for endpoint usage")
    assert " warn " in row and "1 >= 1, but < 2 for a model update" in row
    assert "--quota-code L-ENDP0001 --desired-value 2" in out


def test_a_small_lambda_concurrency_quota_blocks_the_reserved_concurrency(aws, capsys):
    """A new account's low concurrency quota: reserving the API Lambda's share would fail the deploy.

    Lambda refuses PutFunctionConcurrency when fewer than 100 unreserved executions would be
    left (AWS Lambda Developer Guide, "Configuring reserved concurrency").
    """
    _ready(aws)
    aws.api_account()
    aws.lambda_account(unreserved=10, total=10)
    code, out = _run(aws, capsys)
    assert code == 1, out
    row = _row(out, "Lambda reserved concurrency")
    assert "BLOCKER" in row and "only 0 can be reserved" in row
    assert "-c reservedConcurrency=0" in out
    assert "--service-code lambda --quota-code L-B99A9384" in out


def test_no_reserved_concurrency_needs_no_lambda_call(aws, capsys):
    _ready(aws)
    aws.api_account()
    code, out = _run(aws, capsys, "-c", "reservedConcurrency=0")
    assert code == 0, out
    assert "none reserved" in _row(out, "Lambda reserved concurrency")
