"""The custom-resource handler against a moto server over HTTP: create, update, delete, import.

moto has no StopTrainingJob, and its jobs are Completed the moment they are created.
The delete tests therefore wrap the real moto-backed client in `SageMakerShim`: every
call goes to moto except `stop_training_job`, which goes to a client driven by
botocore's Stubber (it validates our request against the real API model), and
`describe_training_job`, which can report "Stopping" for a few calls first.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from training_cr import aws, custom_resource
from training_cr.custom_resource import IMPORT_TYPE, TRAINING_TYPE, on_event
from training_cr.jobs import PropertyError
from training_cr.state import job_name

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


def _sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def _create(props):
    return on_event(cfn_event("Create", TRAINING_TYPE, props), FakeContext())


def test_create_starts_one_script_mode_training_job_and_returns_quickly(moto, wait_handle):
    result = _create(training_props(wait_handle.url))
    name = result["PhysicalResourceId"]
    assert name == job_name(PREFIX, "a" * 64, BUCKET)
    job = _sagemaker().describe_training_job(TrainingJobName=name)
    assert job["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("tensorflow-training:2.21-gpu-py312")
    hps = job["HyperParameters"]
    # The DLC toolkit's script-mode contract, JSON-encoded as the SageMaker SDK sends it.
    assert json.loads(hps["sagemaker_program"]) == "train.py"
    assert (
        json.loads(hps["sagemaker_submit_directory"])
        == "s3://cdk-assets-123456789012-us-east-1/0123abcd.tar.gz"
    )
    assert json.loads(hps["epochs"]) == 10 and json.loads(hps["arch"]) == "mobilenet_v2"
    assert "sagemaker_multi_worker_mirrored_strategy_enabled" not in hps
    assert (
        job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/datasets/isic/d1/"
    )
    # The URL the CfnModel receives is exactly where SageMaker puts the artifact.
    assert result["Data"]["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert result["Data"]["ModelDataUrl"] == f"s3://{BUCKET}/training/{name}/output/model.tar.gz"
    record = json.loads(
        boto3.client("s3").get_object(Bucket=BUCKET, Key=f"pipeline/jobs/{name}.json")["Body"].read()
    )
    assert record["wait_handle_url"] == wait_handle.url and record["min_auc"] == 0.8
    assert wait_handle.signals == []  # the job's end event signals, not the create


def test_job_outputs_checkpoints_and_tensorboard_live_under_the_job_prefix():
    from training_cr.jobs import training_request

    request = training_request(training_props("http://h", UseSpot="true", InstanceCount="2"), "job-1")
    prefix = f"s3://{BUCKET}/training/job-1/"
    assert request["CheckpointConfig"] == {
        "S3Uri": f"{prefix}checkpoints/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert request["TensorBoardOutputConfig"]["S3OutputPath"] == f"{prefix}tensorboard/"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/training/"}
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400, "MaxWaitTimeInSeconds": 28800}
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["Environment"]["SKINLESION_FINGERPRINT"] == "a" * 64
    assert request["HyperParameters"]["sagemaker_multi_worker_mirrored_strategy_enabled"] == "true"


def test_update_with_the_same_fingerprint_starts_no_new_job(moto, wait_handle):
    props = training_props(wait_handle.url)
    first = _create(props)
    # e.g. only the instance type changed: CloudFormation calls Update, the fingerprint is the same
    again = on_event(
        cfn_event(
            "Update",
            TRAINING_TYPE,
            props | {"InstanceType": "ml.g5.xlarge"},
            OldResourceProperties=props,
            PhysicalResourceId=first["PhysicalResourceId"],
        ),
        FakeContext(),
    )
    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert len(_sagemaker().list_training_jobs()["TrainingJobSummaries"]) == 1
    assert wait_handle.signals == []


def test_update_with_a_new_fingerprint_starts_exactly_one_new_job(moto, wait_handle):
    old = training_props(wait_handle.url)
    first = _create(old)
    new = training_props(wait_handle.url + "&new=1", Fingerprint="b" * 64)
    second = on_event(
        cfn_event(
            "Update",
            TRAINING_TYPE,
            new,
            OldResourceProperties=old,
            PhysicalResourceId=first["PhysicalResourceId"],
        ),
        FakeContext(),
    )
    assert second["PhysicalResourceId"] != first["PhysicalResourceId"]
    names = {j["TrainingJobName"] for j in _sagemaker().list_training_jobs()["TrainingJobSummaries"]}
    assert names == {first["PhysicalResourceId"], second["PhysicalResourceId"]}


def test_a_repeated_create_of_a_finished_job_signals_the_new_handle_instead_of_training_again(
    moto, wait_handle
):
    # GIVEN a job that already finished (moto completes at once) and its artifact
    first = _create(training_props("http://127.0.0.1:9/old-handle"))
    name = first["PhysicalResourceId"]
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"training/{name}/output/model.tar.gz", Body=model_tar(metadata_with(0.9))
    )
    # WHEN CloudFormation asks again with a fresh wait handle (a retry or a rollback)
    again = _create(training_props(wait_handle.url))
    # THEN no second job runs and the new handle hears the verdict at once
    assert again["PhysicalResourceId"] == name
    assert len(_sagemaker().list_training_jobs()["TrainingJobSummaries"]) == 1
    assert [s["Status"] for s in wait_handle.signals] == ["SUCCESS"]
    assert wait_handle.signals[0]["Data"] == first["Data"]["ModelDataUrl"]


class SageMakerShim:
    """The moto-backed client, except the calls moto cannot answer (see the module docstring)."""

    def __init__(self, stubbed, stopping_polls: int = 0) -> None:
        self._real = aws.client("sagemaker")
        self._stubbed = stubbed
        self.stopping_polls = stopping_polls
        self.describes = 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def stop_training_job(self, **kwargs):
        return self._stubbed.stop_training_job(**kwargs)

    def describe_training_job(self, **kwargs):
        job = self._real.describe_training_job(**kwargs)
        self.describes += 1
        if self.describes <= self.stopping_polls:
            job["TrainingJobStatus"] = "Stopping"
        return job


def _put_log_streams(name: str) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    for stream in (f"{name}/algo-1-1700000000", f"{name}/algo-2-1700000000", "other-job/algo-1-1"):
        logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream)


def _streams() -> list[str]:
    page = boto3.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")
    return sorted(s["logStreamName"] for s in page["logStreams"])


@pytest.fixture
def stop_stub(moto):
    stubbed = boto3.client("sagemaker", region_name=REGION)
    with Stubber(stubbed) as stubber:
        yield stubbed, stubber
        stubber.assert_no_pending_responses()


def test_delete_stops_a_running_job_waits_for_it_and_removes_its_log_streams(
    moto, wait_handle, stop_stub, monkeypatch
):
    stubbed, stubber = stop_stub
    props = training_props(wait_handle.url)
    name = _create(props)["PhysicalResourceId"]
    _put_log_streams(name)
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})
    shim = SageMakerShim(stubbed, stopping_polls=2)
    aws.set_client("sagemaker", shim)
    monkeypatch.setattr(custom_resource, "POLL_SECONDS", 0.01)
    result = on_event(cfn_event("Delete", TRAINING_TYPE, props, PhysicalResourceId=name), FakeContext())
    assert result == {"PhysicalResourceId": name}
    assert shim.describes == 3  # Stopping, Stopping, then a final state: only then it answers
    assert _streams() == ["other-job/algo-1-1"]


def test_delete_of_a_job_that_already_ended_does_not_wait(moto, wait_handle, stop_stub):
    stubbed, stubber = stop_stub
    props = training_props(wait_handle.url)
    name = _create(props)["PhysicalResourceId"]
    stubber.add_client_error(
        "stop_training_job",
        "ValidationException",
        "The training job is in status Completed.",
        400,
        expected_params={"TrainingJobName": name},
    )
    shim = SageMakerShim(stubbed)
    aws.set_client("sagemaker", shim)
    assert (
        on_event(cfn_event("Delete", TRAINING_TYPE, props, PhysicalResourceId=name), FakeContext())[
            "PhysicalResourceId"
        ]
        == name
    )
    assert shim.describes == 0


def test_delete_after_a_failed_create_touches_nothing(moto, wait_handle, stop_stub):
    stubbed, _ = stop_stub  # no stubbed response: any stop call would fail the test
    aws.set_client("sagemaker", SageMakerShim(stubbed))
    event = cfn_event("Delete", TRAINING_TYPE, training_props(wait_handle.url), PhysicalResourceId="req-1")
    assert on_event(event, FakeContext()) == {"PhysicalResourceId": "req-1"}


def test_a_malformed_property_fails_the_resource_with_its_name(moto, wait_handle):
    with pytest.raises(PropertyError, match="InstanceCount"):
        _create(training_props(wait_handle.url, InstanceCount="two"))
    assert _sagemaker().list_training_jobs()["TrainingJobSummaries"] == []


def test_import_create_starts_a_processing_job_running_the_import_package(moto, wait_handle):
    result = on_event(cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url)), FakeContext())
    name = result["PhysicalResourceId"]
    assert name.startswith(f"{PREFIX}-import-") and result["Data"]["Reused"] == "false"
    job = _sagemaker().describe_processing_job(ProcessingJobName=name)
    app = job["AppSpecification"]
    assert (
        app["ContainerEntrypoint"][:2] == ["/bin/bash", "-c"]
        and "python3 -m isic_import" in app["ContainerEntrypoint"][2]
    )
    assert app["ContainerArguments"] == [
        "--limit",
        "200",
        "--image-size",
        "224",
        "--output",
        "/opt/ml/processing/output",
    ]
    output = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert output["S3Uri"] == f"s3://{BUCKET}/datasets/isic/b1c2/"
    assert wait_handle.signals == []


def test_import_is_skipped_when_the_same_query_already_has_a_manifest(moto, wait_handle):
    manifest = {"class_counts": {"benign": 120, "malignant": 80}, "total": 200}
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="datasets/isic/b1c2/manifest.json", Body=json.dumps(manifest)
    )
    result = on_event(cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url)), FakeContext())
    assert result["Data"]["Reused"] == "true"
    assert _sagemaker().list_processing_jobs()["ProcessingJobSummaries"] == []
    assert [s["Status"] for s in wait_handle.signals] == ["SUCCESS"]
    assert wait_handle.signals[0]["Data"] == f"s3://{BUCKET}/datasets/isic/b1c2/"
    assert (
        "Reused" in wait_handle.signals[0]["Reason"] and "'malignant': 80" in wait_handle.signals[0]["Reason"]
    )


def test_import_delete_stops_the_processing_job(moto, wait_handle):
    props = import_props(wait_handle.url)
    name = on_event(cfn_event("Create", IMPORT_TYPE, props), FakeContext())["PhysicalResourceId"]
    # moto implements StopProcessingJob; its job is already Completed, which real SageMaker rejects
    # with a ValidationException that the handler treats as "nothing to stop".
    assert on_event(cfn_event("Delete", IMPORT_TYPE, props, PhysicalResourceId=name), FakeContext()) == {
        "PhysicalResourceId": name
    }
