"""CloudFormation custom resources `Custom::TrainingJob` and `Custom::DatasetImport` (Provider onEvent).

Create/Update start a SageMaker job named after the resource's fingerprint and
return within seconds; the stack then waits on a WaitCondition that
`job_events.handler` signals when the job ends (CloudFormation would give up on a
custom resource after one hour). The physical id is the job name, so:

- same fingerprint -> same name -> the existing job is reused, nothing new runs,
  unless it failed or was stopped: then a new attempt (`<name>-r2`, `-r3`…) starts
  with the current settings (a raised quota, spot off), and CloudFormation deletes
  the failed attempt's physical id;
- new fingerprint -> new name -> one new job; CloudFormation then deletes the old
  physical id, which stops that job if it still runs;
- Delete (stack delete, replacement, rollback) stops the job, waits for it to stop
  writing, and removes its log streams.

An ISIC import whose dataset (manifest.json under the same query's prefix) already
exists signals success at once and starts nothing.

Before a job is created, the SageMaker instance quotas the deploy needs
(`QuotaChecks`: the import's, the training job's, the endpoint's) are read from
Service Quotas; a short one fails the resource in seconds with the quota, its value,
the need and the command to request more (`lesion_contract/quotas.py`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from lesion_contract import quotas
from training_cr import job_logs
from training_cr.aws import client, error_code, error_message
from training_cr.jobs import (
    PropertyError,
    model_data_key,
    processing_request,
    prop,
    training_prefix_uri,
    training_request,
)
from training_cr.outcome import TERMINAL, finish, manifest_verdict
from training_cr.state import (
    MAX_ATTEMPTS,
    JobRecord,
    attempt_name,
    get_record,
    job_name,
    put_record,
    s3_exists,
)
from training_cr.wait_signal import send_signal

log = logging.getLogger()
log.setLevel(logging.INFO)

TRAINING_TYPE = "Custom::TrainingJob"
IMPORT_TYPE = "Custom::DatasetImport"
POLL_SECONDS = 15.0  # while a deleted job is stopping
RETRIED = ("Failed", "Stopped")  # an attempt in these states is done for; the next deploy tries again
_DELETE_MARGIN_MS = 60_000  # leave time to delete the log streams and answer CloudFormation


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    kind = {TRAINING_TYPE: "training", IMPORT_TYPE: "import"}.get(event.get("ResourceType", ""))
    if kind is None:
        raise PropertyError(f"unsupported resource type {event.get('ResourceType')!r}")
    props = event["ResourceProperties"]
    log.info("%s %s %s", event["RequestType"], event.get("ResourceType"), event.get("PhysicalResourceId", ""))
    if event["RequestType"] == "Delete":
        return delete(kind, event.get("PhysicalResourceId", ""), props, context)
    updating = event["RequestType"] == "Update"
    return (
        start_training(props, updating=updating)
        if kind == "training"
        else start_import(props, updating=updating)
    )


def describe(kind: str, name: str) -> dict[str, Any] | None:
    """The job's description, or None when no job has that name."""
    sagemaker = client("sagemaker")
    try:
        if kind == "training":
            return dict(sagemaker.describe_training_job(TrainingJobName=name))
        return dict(sagemaker.describe_processing_job(ProcessingJobName=name))
    except Exception as err:
        # SageMaker: "Requested resource not found."; moto: "Could not find training job …".
        message = error_message(err).lower()
        if error_code(err) in ("ValidationException", "ResourceNotFound") and (
            "not found" in message or "could not find" in message
        ):
            return None
        raise


def _status(kind: str, job: dict[str, Any]) -> str:
    return str(job["TrainingJobStatus"] if kind == "training" else job["ProcessingJobStatus"])


def current_attempt(kind: str, base: str) -> tuple[str, dict[str, Any] | None]:
    """The attempt this deploy uses: the first name with no job yet, or whose job did not fail or stop.

    A failed or stopped job (a quota too low, a spot interruption past MaxWait, a
    cancelled deploy) is never reused as "done": the next deploy starts a new attempt.
    A completed or running one is reused.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = attempt_name(base, attempt)
        job = describe(kind, name)
        if job is None or _status(kind, job) not in RETRIED:
            return name, job
        log.info("%s %s ended %s: starting a new attempt", kind, name, _status(kind, job))
    raise RuntimeError(
        f"{MAX_ATTEMPTS} attempts of {base} failed or were stopped; change a setting (a new fingerprint "
        "starts over) or read the failure reasons in the SageMaker console"
    )


def check_quotas(props: dict[str, Any], *, updating: bool = False) -> None:
    """Fail now, before anything costly starts, when a SageMaker quota the deploy needs is too low.

    On an Update the new model will replace one the endpoint serves: both fleets count.
    """
    needs = [quotas.Need.from_property(v) for v in props.get("QuotaChecks") or []]
    if not needs:
        return
    if updating:
        needs = quotas.during_model_update(needs)
    region = os.environ.get("AWS_REGION") or str(props.get("Region") or "")
    for finding in quotas.enforce(client("service-quotas"), needs, region):
        log.info("quota %s: %s", finding.status, finding.describe(region))


def _adopt(kind: str, record: JobRecord, job: dict[str, Any]) -> None:
    """A job with this name exists already (retry, rollback, same fingerprint): reuse it.

    If it belongs to a different wait handle and has already finished, no event
    will come for the new handle, so judge and signal it now.
    """
    previous = get_record(record.bucket, record.job_name)
    if previous is not None and previous.wait_handle_url == record.wait_handle_url:
        return
    put_record(record)
    status = _status(kind, job)
    if status in TERMINAL:
        model_url = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
        finish(record, status, job.get("FailureReason") or job.get("ExitMessage") or "", model_url)


def start_training(props: dict[str, Any], *, updating: bool = False) -> dict[str, Any]:
    bucket = prop(props, "Bucket")
    training_request(props, "validation")  # validate every property before touching AWS
    name, existing = current_attempt(
        "training", job_name(prop(props, "JobNamePrefix"), prop(props, "Fingerprint"), bucket)
    )
    record = JobRecord(
        kind="training",
        job_name=name,
        wait_handle_url=prop(props, "WaitHandleUrl"),
        bucket=bucket,
        min_auc=float(prop(props, "MinAuc")),
        fingerprint=prop(props, "Fingerprint"),
    )
    if existing is None:
        check_quotas(props, updating=updating)
        put_record(record)  # before the job exists, so its end event always finds it
        client("sagemaker").create_training_job(**training_request(props, name))
        log.info("started training job %s", name)
    else:
        _adopt("training", record, existing)
    key = model_data_key(name)
    return {
        "PhysicalResourceId": name,
        "Data": {
            "JobName": name,
            "ModelDataKey": key,
            "ModelDataUrl": f"s3://{bucket}/{key}",
            "OutputUri": training_prefix_uri(bucket, name),
        },
    }


def start_import(props: dict[str, Any], *, updating: bool = False) -> dict[str, Any]:
    bucket = prop(props, "Bucket")
    dataset_prefix = prop(props, "DatasetPrefix")
    base = job_name(prop(props, "JobNamePrefix"), prop(props, "DatasetId"), bucket)
    handle = prop(props, "WaitHandleUrl")
    processing_request(props, base)  # validate every property before touching AWS
    if s3_exists(bucket, f"{dataset_prefix}manifest.json"):
        data = {"JobName": base, "DatasetUri": f"s3://{bucket}/{dataset_prefix}", "Reused": "true"}
        verdict = manifest_verdict(bucket, dataset_prefix)
        send_signal(
            handle,
            status=verdict.status,
            reason=f"Reused: {verdict.reason}",
            unique_id=base,
            data=verdict.data,
        )
        return {"PhysicalResourceId": base, "Data": data}
    name, existing = current_attempt("import", base)
    data = {"JobName": name, "DatasetUri": f"s3://{bucket}/{dataset_prefix}", "Reused": "false"}
    record = JobRecord(
        kind="import", job_name=name, wait_handle_url=handle, bucket=bucket, dataset_prefix=dataset_prefix
    )
    if existing is None:
        check_quotas(props, updating=updating)  # the first costly step: check the training's quotas too
        put_record(record)
        client("sagemaker").create_processing_job(**processing_request(props, name))
        log.info("started ISIC import job %s", name)
    else:
        _adopt("import", record, existing)
    return {"PhysicalResourceId": name, "Data": data}


def stop(kind: str, name: str) -> bool:
    """Ask SageMaker to stop the job; False when it had already ended or never existed."""
    sagemaker = client("sagemaker")
    try:
        if kind == "training":
            sagemaker.stop_training_job(TrainingJobName=name)
        else:
            sagemaker.stop_processing_job(ProcessingJobName=name)
    except Exception as err:
        # ValidationException: already Completed/Failed/Stopped; ResourceNotFound: never started.
        if error_code(err) in ("ValidationException", "ResourceNotFound"):
            log.info("%s needs no stop: %s", name, error_message(err))
            return False
        raise
    log.info("stopping %s", name)
    return True


def delete(kind: str, physical_id: str, props: dict[str, Any], context: Any) -> dict[str, Any]:
    # A failed Create leaves a physical id that is not a job name; there is nothing to stop.
    if not physical_id.startswith(prop(props, "JobNamePrefix") + "-"):
        return {"PhysicalResourceId": physical_id}
    if stop(kind, physical_id):
        _wait_until_stopped(kind, physical_id, context)
    removed = job_logs.delete_streams(kind, physical_id)
    log.info("deleted %d log stream(s) of %s", removed, physical_id)
    return {"PhysicalResourceId": physical_id}


def _wait_until_stopped(kind: str, name: str, context: Any) -> None:
    """Until the job stops writing to the bucket (Stopping uploads the model and checkpoints).

    Otherwise `cdk destroy` could empty the bucket while the job still writes to it,
    and the bucket's deletion would fail.
    """
    deadline = time.monotonic() + (context.get_remaining_time_in_millis() - _DELETE_MARGIN_MS) / 1000
    while time.monotonic() < deadline:
        job = describe(kind, name)
        if job is None or _status(kind, job) in TERMINAL:
            return
        time.sleep(POLL_SECONDS)
    log.warning("%s still stopping when the handler had to answer CloudFormation", name)
