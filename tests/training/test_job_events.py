"""The job-state event handler: quality gate, fast failure, and the exact wait-condition signal."""

from __future__ import annotations

import time

import boto3
import pytest
from training_cr.custom_resource import IMPORT_TYPE, TRAINING_TYPE, on_event
from training_cr.job_events import PROCESSING_EVENT, TRAINING_EVENT, handler
from training_cr.wait_signal import MAX_REASON_CHARS, SignalError, send_signal, signal_body

from .conftest import (
    BUCKET,
    REGION,
    FakeContext,
    cfn_event,
    import_props,
    metadata_with,
    model_tar,
    training_props,
)


def _start_training(wait_url: str, **overrides) -> dict:
    return on_event(cfn_event("Create", TRAINING_TYPE, training_props(wait_url, **overrides)), FakeContext())


def _training_event(name: str, status: str, **detail) -> dict:
    """An EventBridge event whose detail is SageMaker's own description of the job, as the real event's is."""
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=name)
    job = {k: v for k, v in job.items() if k != "ResponseMetadata"} | {"TrainingJobStatus": status} | detail
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": TRAINING_EVENT,
        "region": REGION,
        "detail": job,
    }


def _upload_model(name: str, roc_auc: float | None, guard_refusal: float | None = None) -> None:
    key = f"training/{name}/output/model.tar.gz"
    body = model_tar(metadata_with(roc_auc, guard_refusal))
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)


def test_a_completed_job_above_the_bar_signals_success_with_the_model_url(moto, wait_handle):
    started = _start_training(wait_handle.url)
    name = started["PhysicalResourceId"]
    _upload_model(name, 0.912)
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    logs.create_log_stream(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=f"{name}/algo-1-1700000000"
    )
    logs.put_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=f"{name}/algo-1-1700000000",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "epoch 1/10 val_auc 0.91"}],
    )
    assert handler(_training_event(name, "Completed"), None)["result"] == "SUCCESS"
    # THEN exactly the document CloudFormation reads, sent once, without a content type
    assert wait_handle.signals == [
        {
            "Status": "SUCCESS",
            "Reason": "Quality gate passed: roc_auc 0.9120 >= 0.80 (roc_auc 0.9120, pr_auc 0.7100, "
            "balanced_accuracy 0.8000, sensitivity 0.9000, specificity 0.7000)",
            "UniqueId": name,
            "Data": started["Data"]["ModelDataUrl"],
        }
    ]
    assert wait_handle.headers[0].get("content-type", "") == ""
    # AND the job's logs now live under its prefix in the artifacts bucket
    body = boto3.client("s3").get_object(
        Bucket=BUCKET, Key=f"training/{name}/logs/{name}_algo-1-1700000000.log"
    )["Body"]
    assert body.read().decode() == "epoch 1/10 val_auc 0.91\n"


def test_a_completed_job_below_min_auc_fails_the_deploy_with_its_metrics(moto, wait_handle):
    name = _start_training(wait_handle.url, MinAuc="0.85")["PhysicalResourceId"]
    _upload_model(name, 0.7712)
    assert handler(_training_event(name, "Completed"), None)["result"] == "FAILURE"
    [signal] = wait_handle.signals
    assert signal["Status"] == "FAILURE" and signal["UniqueId"] == name and signal["Data"] == ""
    assert signal["Reason"].startswith("Quality gate failed: validation roc_auc 0.7712 < minAuc 0.85")
    assert "sensitivity 0.9000" in signal["Reason"] and "keeps its current model" in signal["Reason"]


def test_an_artifact_without_roc_auc_fails_the_gate(moto, wait_handle):
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    _upload_model(name, None)
    handler(_training_event(name, "Completed"), None)
    assert wait_handle.signals[0]["Status"] == "FAILURE"
    assert "no validation_metrics.roc_auc" in wait_handle.signals[0]["Reason"]


def test_a_guard_that_refuses_too_many_validation_lesions_fails_the_gate(moto, wait_handle):
    # GIVEN an artifact above minAuc whose not-a-lesion guard refuses 3 % of validation lesions
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    _upload_model(name, 0.91, guard_refusal=0.03)
    assert handler(_training_event(name, "Completed"), None)["result"] == "FAILURE"
    [signal] = wait_handle.signals
    assert signal["Reason"].startswith(
        "Quality gate failed: the not-a-lesion guard refuses 3.00% of the validation lesions "
        "(at most 2% allowed)"
    )
    assert signal["Data"] == "" and "keeps its current model" in signal["Reason"]


def test_a_guard_within_the_limit_passes_and_the_reason_says_its_refusal_rate(moto, wait_handle):
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    _upload_model(name, 0.91, guard_refusal=0.0014)
    assert handler(_training_event(name, "Completed"), None)["result"] == "SUCCESS"
    assert wait_handle.signals[0]["Reason"].endswith("; the guard refuses 0.14% of validation lesions")


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_or_stopped_job_fails_at_once_with_sagemakers_reason(moto, wait_handle, status):
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    reason = 'AlgorithmError: ExecuteUserScriptError: Command "/usr/local/bin/python3.12 train.py" exit 1'
    handler(_training_event(name, status, FailureReason=reason), None)
    assert wait_handle.signals == [
        {
            "Status": "FAILURE",
            "Reason": f"Training job {name} {status}: {reason}",
            "UniqueId": name,
            "Data": "",
        }
    ]


def test_intermediate_states_and_foreign_jobs_are_ignored(moto, wait_handle):
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    assert handler(_training_event(name, "InProgress"), None)["result"] == "ignored"
    foreign = _training_event(name, "Failed") | {}
    foreign["detail"] = foreign["detail"] | {"TrainingJobName": "someone-elses-job"}
    assert handler(foreign, None)["result"] == "ignored"
    assert (
        handler({"detail-type": "SageMaker Endpoint State Change", "detail": {}}, None)["result"] == "ignored"
    )
    assert wait_handle.signals == []


def _processing_event(name: str, status: str, **detail) -> dict:
    job = boto3.client("sagemaker", region_name=REGION).describe_processing_job(ProcessingJobName=name)
    job = {k: v for k, v in job.items() if k != "ResponseMetadata"} | {"ProcessingJobStatus": status} | detail
    return {"source": "aws.sagemaker", "detail-type": PROCESSING_EVENT, "detail": job}


def test_a_finished_import_signals_the_dataset_uri(moto, wait_handle):
    name = on_event(cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url)), FakeContext())[
        "PhysicalResourceId"
    ]
    boto3.client("s3").put_object(
        Bucket=BUCKET,
        Key="datasets/isic/b1c2/manifest.json",
        Body=b'{"class_counts": {"benign": 3, "malignant": 2}}',
    )
    handler(_processing_event(name, "Completed"), None)
    assert wait_handle.signals[0]["Status"] == "SUCCESS"
    assert wait_handle.signals[0]["Data"] == f"s3://{BUCKET}/datasets/isic/b1c2/"


def test_a_failed_import_fails_with_the_exit_message(moto, wait_handle):
    name = on_event(cfn_event("Create", IMPORT_TYPE, import_props(wait_handle.url)), FakeContext())[
        "PhysicalResourceId"
    ]
    handler(_processing_event(name, "Failed", ExitMessage="the import needs images of both classes"), None)
    assert wait_handle.signals[0]["Status"] == "FAILURE"
    assert wait_handle.signals[0]["Reason"].endswith("Failed: the import needs images of both classes")


def test_the_signal_is_retried_when_the_handle_answers_5xx(wait_handle):
    wait_handle.refuse = 1
    send_signal(wait_handle.url, status="SUCCESS", reason="ok", unique_id="job-1", data="s3://b/k")
    assert wait_handle.signals == [
        {"Status": "SUCCESS", "Reason": "ok", "UniqueId": "job-1", "Data": "s3://b/k"}
    ]


def test_a_handle_that_keeps_refusing_raises_so_eventbridge_retries(wait_handle, monkeypatch):
    monkeypatch.setattr("training_cr.wait_signal._ATTEMPTS", 2)
    wait_handle.refuse = 5
    with pytest.raises(SignalError, match="HTTP 503"):
        send_signal(wait_handle.url, status="FAILURE", reason="x", unique_id="job-1")


def test_long_reasons_are_cut_to_what_stack_events_show():
    body = signal_body(status="FAILURE", reason="x" * 5000, unique_id="j", data="")
    assert len(__import__("json").loads(body)["Reason"]) == MAX_REASON_CHARS
    with pytest.raises(ValueError):
        signal_body(status="MAYBE", reason="", unique_id="j", data="")


def test_a_job_stopped_after_its_wait_was_removed_is_logged_not_retried(moto, wait_handle):
    # GIVEN a replaced job that Delete stopped; CloudFormation has removed its handle (S3 answers 403)
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    wait_handle.gone = True
    # WHEN its Stopped event arrives THEN the handler ends quietly instead of failing into retries
    assert (
        handler(_training_event(name, "Stopped", FailureReason="Stopped by the user"), None)["result"]
        == "handle-gone"
    )
    assert wait_handle.signals == []


def test_events_after_the_stack_deleted_its_bucket_are_ignored(moto, wait_handle):
    name = _start_training(wait_handle.url)["PhysicalResourceId"]
    event = _training_event(name, "Stopped")
    s3 = boto3.resource("s3")
    s3.Bucket(BUCKET).objects.all().delete()
    s3.Bucket(BUCKET).delete()
    assert handler(event, None)["result"] == "ignored"
