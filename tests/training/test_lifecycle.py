"""A retrain that fails the gate, then CloudFormation's rollback, replayed through the handlers.

The events arrive in the order CloudFormation sends them during `cdk deploy` of a new
fingerprint whose model falls short, and the rollback after it. The point: one extra
job, one FAILURE to the new wait, no job and no signal on the way back, and the old
job stays the model's source.
"""

from __future__ import annotations

import boto3
from botocore.stub import Stubber
from training_cr import aws
from training_cr.custom_resource import TRAINING_TYPE, on_event
from training_cr.job_events import handler

from .conftest import BUCKET, REGION, FakeContext, cfn_event, metadata_with, model_tar, training_props
from .test_custom_resource import SageMakerShim
from .test_job_events import _training_event


def _finish_with_auc(name: str, auc: float) -> dict:
    key = f"training/{name}/output/model.tar.gz"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=model_tar(metadata_with(auc)))
    return handler(_training_event(name, "Completed"), None)


def test_a_failed_retrain_rolls_back_to_the_previous_job_without_training_again(moto, wait_handle):
    old = training_props(wait_handle.url + "&wait=A")
    new = training_props(wait_handle.url + "&wait=B", Fingerprint="b" * 64)
    # first deploy: job A passes the gate
    job_a = on_event(cfn_event("Create", TRAINING_TYPE, old), FakeContext())["PhysicalResourceId"]
    assert _finish_with_auc(job_a, 0.91)["result"] == "SUCCESS"
    # second deploy, new fingerprint: job B, below the bar
    update = cfn_event("Update", TRAINING_TYPE, new, OldResourceProperties=old, PhysicalResourceId=job_a)
    job_b = on_event(update, FakeContext())["PhysicalResourceId"]
    assert job_b != job_a
    assert _finish_with_auc(job_b, 0.62)["result"] == "FAILURE"
    # rollback: CloudFormation updates back to the old properties (and the old, finished wait)
    rollback = cfn_event("Update", TRAINING_TYPE, old, OldResourceProperties=new, PhysicalResourceId=job_b)
    assert on_event(rollback, FakeContext())["PhysicalResourceId"] == job_a
    # rollback cleanup deletes the failed job's resource: nothing left running to stop
    stubbed = boto3.client("sagemaker", region_name=REGION)
    with Stubber(stubbed) as stubber:
        stubber.add_client_error(
            "stop_training_job", "ValidationException", "The training job is in status Completed.", 400
        )
        aws.set_client("sagemaker", SageMakerShim(stubbed))
        on_event(cfn_event("Delete", TRAINING_TYPE, new, PhysicalResourceId=job_b), FakeContext())
        stubber.assert_no_pending_responses()
    aws.reset_clients()
    jobs = boto3.client("sagemaker", region_name=REGION).list_training_jobs()["TrainingJobSummaries"]
    assert sorted(j["TrainingJobName"] for j in jobs) == sorted([job_a, job_b])  # no third job
    assert [(s["UniqueId"], s["Status"]) for s in wait_handle.signals] == [
        (job_a, "SUCCESS"),
        (job_b, "FAILURE"),
    ]
