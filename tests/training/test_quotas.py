"""The quota check against Service Quotas responses, served by botocore's Stubber.

The Stubber validates every request we send against the real Service Quotas API
model and answers with the response shapes AWS documents, so these tests hold the
check to the API without an account. (moto has no Service Quotas values for SageMaker.)
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from lesion_contract.quotas import (
    QuotaError,
    check,
    during_model_update,
    endpoint_need,
    enforce,
    processing_need,
    training_need,
)

REGION = "eu-west-1"
P3_CODE = "L-2E2D5B8B"


def _quota(name: str, value: float, code: str) -> dict:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:123456789012:sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


@pytest.fixture
def quotas():
    client = boto3.client(
        "service-quotas",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - never sent: the Stubber answers
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _applied(stub: Stubber, quotas: list[dict], next_token: str | None = None, token: str | None = None):
    params = {"ServiceCode": "sagemaker", "MaxResults": 100} | ({"NextToken": token} if token else {})
    response = {"Quotas": quotas} | ({"NextToken": next_token} if next_token else {})
    stub.add_response("list_service_quotas", response, params)


def _defaults(stub: Stubber, quotas: list[dict]):
    stub.add_response(
        "list_aws_default_service_quotas", {"Quotas": quotas}, {"ServiceCode": "sagemaker", "MaxResults": 100}
    )


def test_a_zero_training_quota_stops_the_deploy_with_its_name_value_need_and_request_command(quotas):
    client, stub = quotas
    _applied(stub, [_quota("ml.p3.2xlarge for training job usage", 0.0, P3_CODE)])
    with pytest.raises(QuotaError) as raised:
        enforce(client, [training_need("ml.p3.2xlarge", 1, spot=False)], REGION)
    message = str(raised.value)
    assert "'ml.p3.2xlarge for training job usage' is 0, the training job needs 1" in message
    assert (
        "aws service-quotas request-service-quota-increase --service-code sagemaker "
        f"--quota-code {P3_CODE} --desired-value 1 --region {REGION}" in message
    )
    assert (
        f"https://{REGION}.console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/{P3_CODE}"
        in (message)
    )
    assert "nothing was started" in message


def test_enough_quota_for_every_need_passes_and_reports_each_value(quotas):
    client, stub = quotas
    _applied(
        stub,
        [
            _quota("ml.p3.2xlarge for training job usage", 2.0, P3_CODE),
            _quota("ml.m5.xlarge for processing job usage", 4.0, "L-PROC0001"),
        ],
        next_token="page-2",
    )
    _applied(stub, [_quota("ml.m5.large for endpoint usage", 1.0, "L-ENDP0001")], token="page-2")
    needs = [
        training_need("ml.p3.2xlarge", 2, spot=False),
        processing_need("ml.m5.xlarge"),
        endpoint_need("ml.m5.large", 1),
    ]
    findings = enforce(client, needs, REGION)
    assert [(f.need.quota_name, f.value, f.status) for f in findings] == [
        ("ml.p3.2xlarge for training job usage", 2.0, "ok"),
        ("ml.m5.xlarge for processing job usage", 4.0, "ok"),
        ("ml.m5.large for endpoint usage", 1.0, "ok"),
    ]


def test_spot_training_is_held_to_the_spot_quota_not_the_on_demand_one(quotas):
    client, stub = quotas
    _applied(
        stub,
        [
            _quota("ml.p3.2xlarge for training job usage", 1.0, P3_CODE),
            _quota("ml.p3.2xlarge for spot training job usage", 0.0, "L-SPOT0001"),
        ],
    )
    with pytest.raises(QuotaError, match="'ml.p3.2xlarge for spot training job usage' is 0"):
        enforce(client, [training_need("ml.p3.2xlarge", 1, spot=True)], REGION)


def test_a_quota_never_changed_for_the_account_is_read_from_the_aws_default(quotas):
    client, stub = quotas
    _applied(stub, [])  # no applied value for this quota
    _defaults(stub, [_quota("ml.m5.xlarge for processing job usage", 0.0, "L-PROC0001")])
    [finding] = check(client, [processing_need("ml.m5.xlarge")])
    assert (finding.status, finding.value, finding.quota_code) == ("short", 0.0, "L-PROC0001")


def test_more_instances_than_the_quota_allows_is_short(quotas):
    client, stub = quotas
    _applied(stub, [_quota("ml.g5.xlarge for training job usage", 1.0, "L-G5000001")])
    with pytest.raises(QuotaError, match="is 1, the training job needs 2.*--desired-value 2"):
        enforce(client, [training_need("ml.g5.xlarge", 2, spot=False)], REGION)


def test_an_api_error_leaves_the_quota_unknown_and_does_not_stop_the_deploy(quotas):
    client, stub = quotas
    stub.add_client_error(
        "list_service_quotas",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform servicequotas:ListServiceQuotas",
        http_status_code=400,
    )
    findings = enforce(client, [training_need("ml.p3.2xlarge", 1, spot=False)], REGION)
    assert [f.status for f in findings] == ["unknown"]
    assert "AccessDeniedException" in findings[0].error
    assert "servicequotas:ListServiceQuotas" in findings[0].describe(REGION)


def test_an_instance_type_without_a_quota_in_the_region_is_unknown_not_short(quotas):
    client, stub = quotas
    _applied(stub, [_quota("ml.m5.large for endpoint usage", 1.0, "L-ENDP0001")])
    _defaults(stub, [])
    [finding] = check(client, [training_need("ml.p9.mega", 1, spot=False)])
    assert finding.status == "unknown" and "no such quota" in finding.error


def test_a_model_update_doubles_only_the_endpoint_need():
    needs = [training_need("ml.p3.2xlarge", 1, spot=True), endpoint_need("ml.m5.large", 2)]
    updated = during_model_update(needs)
    assert [(n.quota_name, n.needed) for n in updated] == [
        ("ml.p3.2xlarge for spot training job usage", 1),
        ("ml.m5.large for endpoint usage", 4),
    ]
    assert "old and new fleets" in updated[1].purpose
