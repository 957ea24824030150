"""Failed or stopped jobs are retried, finished ones reused; quotas are checked before anything starts.

SageMaker and S3 are a moto server over HTTP (tests/training/conftest.py). moto completes
a job the moment it is created, so `StatusShim` reports the state a test needs for a
job name (Failed, Stopped, InProgress) and passes every other call to moto. Service
Quotas (which moto cannot answer for SageMaker) and S3's 403 are botocore Stubber
clients: the requests are checked against the real API models.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from training_cr import aws
from training_cr.custom_resource import IMPORT_TYPE, TRAINING_TYPE, on_event
from training_cr.state import S3AccessDenied, job_name, s3_exists

from lesion_contract.quotas import QuotaError, endpoint_need, processing_need, training_need

from .conftest import (
    BUCKET,
    PREFIX,
    REGION,
    FakeContext,
    cfn_event,
    import_props,
    metadata_with,
    model_tar,
    training_props,
)

TRAINING_QUOTA = "ml.p3.2xlarge for training job usage"


class StatusShim:
    """The moto client, with the status of chosen jobs overridden in Describe*."""

    def __init__(self) -> None:
        self._real = aws.client("sagemaker")
        self.statuses: dict[str, str] = {}

    def __getattr__(self, name):
        return getattr(self._real, name)

    def describe_training_job(self, **kwargs):
        job = self._real.describe_training_job(**kwargs)
        if job["TrainingJobName"] in self.statuses:
            job["TrainingJobStatus"] = self.statuses[job["TrainingJobName"]]
            job["FailureReason"] = "ResourceLimitExceeded: The account-level service limit is 0 Instances"
        return job

    def describe_processing_job(self, **kwargs):
        job = self._real.describe_processing_job(**kwargs)
        if job["ProcessingJobName"] in self.statuses:
            job["ProcessingJobStatus"] = self.statuses[job["ProcessingJobName"]]
        return job


@pytest.fixture
def shim(moto) -> StatusShim:
    sagemaker = StatusShim()
    aws.set_client("sagemaker", sagemaker)
    return sagemaker


@pytest.fixture
def quotas(moto):
    """A Stubber-backed Service Quotas client; a test that queues nothing asserts it is never called."""
    client = boto3.client("service-quotas", region_name=REGION)
    aws.set_client("service-quotas", client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _quota_page(stub: Stubber, values: dict[str, float]) -> None:
    quotas = [
        {"QuotaName": name, "QuotaCode": f"L-{i:08d}", "Value": value, "ServiceCode": "sagemaker"}
        for i, (name, value) in enumerate(values.items())
    ]
    stub.add_response(
        "list_service_quotas", {"Quotas": quotas}, {"ServiceCode": "sagemaker", "MaxResults": 100}
    )


def _jobs() -> list[str]:
    summaries = boto3.client("sagemaker", region_name=REGION).list_training_jobs()["TrainingJobSummaries"]
    return sorted(j["TrainingJobName"] for j in summaries)


def _job(name: str) -> dict:
    return boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=name)


def _record(name: str) -> dict:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"pipeline/jobs/{name}.json")["Body"].read()
    return json.loads(body)


def _update(props: dict, old: dict, physical_id: str, kind: str = TRAINING_TYPE) -> dict:
    event = cfn_event("Update", kind, props, OldResourceProperties=old, PhysicalResourceId=physical_id)
    return on_event(event, FakeContext())


# --- item 3: retry ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_or_stopped_job_is_retried_as_a_new_attempt_with_the_current_settings(
    shim, wait_handle, status
):
    # GIVEN a deploy whose training job failed (say, a spot quota of 0) or was stopped
    first_props = training_props(wait_handle.url + "&wait=1", UseSpot="true")
    first = on_event(cfn_event("Create", TRAINING_TYPE, first_props), FakeContext())["PhysicalResourceId"]
    shim.statuses[first] = status
    # WHEN the user fixes it (spot off) and deploys again: same fingerprint, a new wait handle
    retry_props = training_props(wait_handle.url + "&wait=2", UseSpot="false")
    second = _update(retry_props, first_props, first)
    # THEN a new attempt trains, with the new settings, and its end event will signal the new wait
    name = second["PhysicalResourceId"]
    assert name == f"{first}-r2"
    assert _jobs() == sorted([first, name])
    assert _job(name)["EnableManagedSpotTraining"] is False
    assert second["Data"]["ModelDataUrl"] == f"s3://{BUCKET}/training/{name}/output/model.tar.gz"
    assert _record(name)["wait_handle_url"] == wait_handle.url + "&wait=2"
    assert wait_handle.signals == []  # not the old verdict again


@pytest.mark.parametrize("status", ["Completed", "InProgress", "Stopping"])
def test_a_completed_or_running_job_is_reused_not_retried(shim, wait_handle, status):
    props = training_props(wait_handle.url)
    first = on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())["PhysicalResourceId"]
    shim.statuses[first] = status
    again = _update(props | {"InstanceType": "ml.g5.2xlarge"}, props, first)
    assert again["PhysicalResourceId"] == first
    assert _jobs() == [first]


def test_each_failed_attempt_moves_on_to_the_next_name(shim, wait_handle):
    props = training_props(wait_handle.url)
    base = job_name(PREFIX, "a" * 64, BUCKET)
    first = on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())["PhysicalResourceId"]
    shim.statuses[first] = "Failed"
    second = _update(props, props, first)["PhysicalResourceId"]
    shim.statuses[second] = "Stopped"
    third = _update(props, props, second)["PhysicalResourceId"]
    assert (first, second, third) == (base, f"{base}-r2", f"{base}-r3")
    # a later deploy finds the third attempt (completed by moto) and reuses it
    assert _update(props, props, third)["PhysicalResourceId"] == third
    assert len(_jobs()) == 3


def test_a_failed_import_is_retried_as_a_new_processing_job(shim, wait_handle):
    props = import_props(wait_handle.url)
    first = on_event(cfn_event("Create", IMPORT_TYPE, props), FakeContext())["PhysicalResourceId"]
    shim.statuses[first] = "Failed"
    second = _update(props, props, first, kind=IMPORT_TYPE)
    assert second["PhysicalResourceId"] == f"{first}-r2"
    assert second["Data"]["Reused"] == "false"
    names = boto3.client("sagemaker", region_name=REGION).list_processing_jobs()["ProcessingJobSummaries"]
    assert sorted(j["ProcessingJobName"] for j in names) == sorted([first, f"{first}-r2"])


def test_a_replaced_wait_gets_the_same_finished_job_judged_against_the_new_min_auc(moto, wait_handle):
    # GIVEN a finished job whose model (AUC 0.75) failed the 0.80 gate
    first = training_props(wait_handle.url + "&wait=1", MinAuc="0.8")
    name = on_event(cfn_event("Create", TRAINING_TYPE, first), FakeContext())["PhysicalResourceId"]
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"training/{name}/output/model.tar.gz", Body=model_tar(metadata_with(0.75))
    )
    # WHEN minAuc is lowered: the stack replaces the wait (new handle), the fingerprint is unchanged
    second = training_props(wait_handle.url + "&wait=2", MinAuc="0.7")
    assert _update(second, first, name)["PhysicalResourceId"] == name
    # THEN no job runs again and the new wait hears SUCCESS for the same artifact
    assert _jobs() == [name]
    assert [s["Status"] for s in wait_handle.signals] == ["SUCCESS"]
    assert "roc_auc 0.7500 >= 0.70" in wait_handle.signals[0]["Reason"]


# --- item 2: quotas before anything costly -------------------------------------------------------
def _checks(*needs) -> list[dict[str, str]]:
    return [n.as_property() for n in needs]


def test_a_zero_training_quota_fails_the_create_in_seconds_and_starts_nothing(moto, wait_handle, quotas):
    _quota_page(quotas, {TRAINING_QUOTA: 0.0, "ml.m5.large for endpoint usage": 2.0})
    props = training_props(
        wait_handle.url,
        QuotaChecks=_checks(training_need("ml.p3.2xlarge", 1, spot=False), endpoint_need("ml.m5.large", 1)),
    )
    with pytest.raises(QuotaError) as raised:
        on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())
    message = str(raised.value)
    assert f"'{TRAINING_QUOTA}' is 0, the training job needs 1" in message
    assert (
        "aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code L-00000000"
        in (message)
    )
    assert "--desired-value 1 --region us-east-1" in message
    assert _jobs() == []
    objects = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="pipeline/jobs/")
    assert objects.get("KeyCount", 0) == 0  # no record either: nothing waits for a job that never ran


def test_the_import_checks_the_training_quota_before_it_starts_the_import(moto, wait_handle, quotas):
    _quota_page(
        quotas,
        {"ml.m5.xlarge for processing job usage": 1.0, "ml.p3.2xlarge for spot training job usage": 0.0},
    )
    checks = _checks(processing_need("ml.m5.xlarge"), training_need("ml.p3.2xlarge", 1, spot=True))
    with pytest.raises(QuotaError, match="spot training job usage' is 0"):
        on_event(
            cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url, QuotaChecks=checks)), FakeContext()
        )
    jobs = boto3.client("sagemaker", region_name=REGION).list_processing_jobs()["ProcessingJobSummaries"]
    assert jobs == []


def test_an_update_that_trains_needs_room_for_the_old_and_the_new_endpoint_fleet(moto, wait_handle, quotas):
    # GIVEN a running stack whose endpoint uses its one allowed ml.m5.large
    checks = _checks(training_need("ml.p3.2xlarge", 1, spot=False), endpoint_need("ml.m5.large", 1))
    old = training_props(wait_handle.url, QuotaChecks=checks)
    _quota_page(quotas, {TRAINING_QUOTA: 1.0, "ml.m5.large for endpoint usage": 1.0})
    first = on_event(cfn_event("Create", TRAINING_TYPE, old), FakeContext())["PhysicalResourceId"]
    # WHEN a new fingerprint would train a model that the endpoint then rolls to (blue/green)
    _quota_page(quotas, {TRAINING_QUOTA: 1.0, "ml.m5.large for endpoint usage": 1.0})
    new = training_props(wait_handle.url + "&new=1", Fingerprint="b" * 64, QuotaChecks=checks)
    # THEN the deploy stops before training: the roll would need both fleets at once
    with pytest.raises(
        QuotaError, match=r"'ml.m5.large for endpoint usage' is 1, .* during a model update.* needs 2"
    ):
        _update(new, old, first)
    assert _jobs() == [first]


def test_enough_quota_lets_the_job_start(moto, wait_handle, quotas):
    _quota_page(quotas, {TRAINING_QUOTA: 1.0})
    props = training_props(
        wait_handle.url, QuotaChecks=_checks(training_need("ml.p3.2xlarge", 1, spot=False))
    )
    name = on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())["PhysicalResourceId"]
    assert _jobs() == [name]


def test_a_service_quotas_error_does_not_block_the_deploy(moto, wait_handle, quotas):
    quotas.add_client_error("list_service_quotas", "AccessDeniedException", "not authorized", 400)
    props = training_props(
        wait_handle.url, QuotaChecks=_checks(training_need("ml.p3.2xlarge", 1, spot=False))
    )
    name = on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())["PhysicalResourceId"]
    assert _jobs() == [name]


def test_a_reused_job_or_dataset_is_not_rechecked(moto, wait_handle, quotas):
    # no quota response is queued: any Service Quotas call would fail the test
    checks = _checks(training_need("ml.p3.2xlarge", 1, spot=False))
    quotas.add_response("list_service_quotas", {"Quotas": [{"QuotaName": TRAINING_QUOTA, "Value": 1.0}]})
    props = training_props(wait_handle.url, QuotaChecks=checks)
    name = on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())["PhysicalResourceId"]
    assert _update(props, props, name)["PhysicalResourceId"] == name  # second call: no quota lookup
    boto3.client("s3").put_object(
        Bucket=BUCKET,
        Key="datasets/isic/b1c2/manifest.json",
        Body=json.dumps({"class_counts": {"benign": 3, "malignant": 2}}).encode(),
    )
    imported = on_event(
        cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url, QuotaChecks=checks)), FakeContext()
    )
    assert imported["Data"]["Reused"] == "true"


# --- item 5: a 403 is not a 404 ------------------------------------------------------------------
@pytest.fixture
def s3_stub():
    client = boto3.client("s3", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")  # noqa: S106
    aws.set_client("s3", client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
    aws.reset_clients()


def test_s3_exists_answers_false_for_404(s3_stub):
    s3_stub.add_client_error(
        "head_object", "404", "Not Found", 404, expected_params={"Bucket": "b", "Key": "k"}
    )
    assert s3_exists("b", "k") is False


def test_s3_exists_raises_for_403_naming_the_permissions(s3_stub):
    s3_stub.add_client_error(
        "head_object", "403", "Forbidden", 403, expected_params={"Bucket": "b", "Key": "k"}
    )
    with pytest.raises(S3AccessDenied, match=r"s3://b/k: access denied \(HTTP 403\).*s3:ListBucket"):
        s3_exists("b", "k")


def test_an_import_that_cannot_read_its_manifest_fails_instead_of_importing_again(moto, wait_handle, s3_stub):
    s3_stub.add_client_error("head_object", "403", "Forbidden", 403)
    with pytest.raises(S3AccessDenied):
        on_event(cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url)), FakeContext())
    aws.reset_clients()
    jobs = boto3.client("sagemaker", region_name=REGION).list_processing_jobs()["ProcessingJobSummaries"]
    assert jobs == []
