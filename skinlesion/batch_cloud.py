"""Cloud mode of `skinlesion batch`: a SageMaker Batch Transform job over an S3 prefix.

The job runs the deployed model (the same TF Serving container and code/inference.py as
the endpoint) with one file per record: SplitType None, SingleRecord, ContentType
application/x-image. SageMaker writes `<output>/<key relative to the prefix>.out` for
each input, holding the endpoint's `[p_benign, p_malignant]`; those are joined back into
the same rows local mode writes, labelled with the threshold from the model artifact's
metadata.json. Before the job starts, the image count, the expected instance hours and
their cost (prices.json, the table `skinlesion cost` uses) are printed and confirmed.
Ctrl-C stops the job (StopTransformJob).
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

import lesion_contract as contract
from skinlesion import cost
from skinlesion.batch_cloud_plan import Plan, confirm, estimate_text, make_plan, split_s3_uri
from skinlesion.batch_output import ResultsFile, Row, read_rows
from skinlesion.batch_summary import Progress, summary

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CONTENT_TYPE = contract.ENDPOINT_CONTENT_TYPE  # the one-image type the API sends too: the bytes as they are
TERMINAL = ("Completed", "Failed", "Stopped")
METADATA_NAME = "metadata.json"


def run_cloud(a: argparse.Namespace, fmt: str, err: TextIO, *, session: Any = None) -> int:
    """Plan, confirm, run (or attach to) the job, join its output, write rows, print the summary."""
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=a.region)
    sm, s3 = session.client("sagemaker"), session.client("s3")
    try:
        results = ResultsFile(a.out, fmt)
        plan = make_plan(a, sm, s3, session.client("cloudformation"), cost.load_prices())
        model = model_info(sm, s3, plan.model_name)
    except (ValueError, KeyError, tarfile.TarError, cost.CostError) as exc:
        err.write(f"skinlesion batch: {exc}\n")
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as exc:
        err.write(f"skinlesion batch: {_aws_message(exc)}\n")
        return EXIT_USAGE
    start = time.monotonic()
    status, code = _run_job(a, sm, s3, plan, model, err)
    if status is None:
        return code
    rows = join_output(s3, plan, status, model)
    done = results.open()
    for row in rows:
        if row.path not in done:
            results.write(row)
    results.close()
    all_rows = read_rows(a.out, fmt)
    err.write(summary(all_rows, scored_now=len(rows), seconds=time.monotonic() - start, skipped=0))
    if code:
        return code
    return EXIT_SOME_FAILED if any(r.error_code for r in all_rows) else EXIT_OK


def _run_job(
    a: argparse.Namespace, sm: Any, s3: Any, plan: Plan, model: ModelInfo, err: TextIO
) -> tuple[Any, int]:
    """(the job's last description, exit code); None when no job ran or AWS refused a call."""
    started = a.attach is not None
    try:
        if not started:
            err.write(estimate_text(plan))
            if not confirm(a.yes, err):
                err.write("Not started.\n")
                return None, EXIT_USAGE
            sm.create_transform_job(**job_request(plan, guard=model.guard_threshold is not None))
            started = True
            err.write(f"Started {plan.job_name}; Ctrl-C stops it.\n")
        return wait_for_job(sm, s3, plan, err, poll=a.poll, progress=not a.no_progress), EXIT_OK
    except KeyboardInterrupt:
        if not started:
            err.write("\nNot started.\n")
            return None, EXIT_INTERRUPTED
        sm.stop_transform_job(TransformJobName=plan.job_name)
        err.write(f"\nStopping {plan.job_name} (StopTransformJob); joining what it wrote so far.\n")
        return {"TransformJobStatus": "Stopping", "FailureReason": "stopped by Ctrl-C"}, EXIT_INTERRUPTED
    except (BotoCoreError, ClientError) as exc:
        where = f" (job {plan.job_name}: --attach {plan.job_name} joins it later)" if started else ""
        err.write(f"skinlesion batch: {_aws_message(exc)}{where}\n")
        return None, EXIT_USAGE


def _aws_message(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS {exc.operation_name}: {error.get('Code', '')}: {error.get('Message', exc)}"
    return f"AWS: {exc}"


def job_request(plan: Plan, *, guard: bool = False) -> dict[str, Any]:
    """CreateTransformJob's parameters: one image file per request, JSON out, nothing assembled.

    With a guard in the model, Accept asks inference.py for the lesion score too (the contract's
    extension; a transform job cannot send CustomAttributes, Accept selects it as well).
    """
    return {
        "TransformJobName": plan.job_name,
        "ModelName": plan.model_name,
        "MaxConcurrentTransforms": plan.max_concurrent,
        "MaxPayloadInMB": plan.max_payload_mb,
        "BatchStrategy": "SingleRecord",  # a record is a whole image; MultiRecord would concatenate files
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": 60, "InvocationsMaxRetries": 2},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": plan.input_uri}},
            "ContentType": CONTENT_TYPE,
            "CompressionType": "None",
            "SplitType": "None",  # one file, one record
        },
        "TransformOutput": {
            "S3OutputPath": plan.output_uri,
            "Accept": contract.GUARD_ACCEPT if guard else contract.JSON_CONTENT_TYPE,
            "AssembleWith": "None",
        },
        "TransformResources": {"InstanceType": plan.instance_type, "InstanceCount": plan.instance_count},
        "Tags": [{"Key": "created-by", "Value": "skinlesion batch"}],
    }


def wait_for_job(sm: Any, s3: Any, plan: Plan, err: TextIO, *, poll: float, progress: bool) -> dict[str, Any]:
    """Poll until the job ends; progress counts the `.out` objects written so far."""
    bar = Progress(len(plan.keys), err, enabled=progress)
    while True:
        job = sm.describe_transform_job(TransformJobName=plan.job_name)
        written = len(_output_objects(s3, plan))
        while bar.done < written:
            bar.step()
        if job["TransformJobStatus"] in TERMINAL:
            bar.close()
            err.write(f"{plan.job_name}: {job['TransformJobStatus']}\n")
            return job
        time.sleep(poll)


def _output_objects(s3: Any, plan: Plan) -> dict[str, str]:
    """Relative input key -> output object key, for every `.out` under the job's output path."""
    bucket, prefix = split_s3_uri(plan.output_uri)
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".out"):
                found[obj["Key"][len(prefix) :].removesuffix(".out")] = obj["Key"]
    return found


def join_output(s3: Any, plan: Plan, job: dict[str, Any], model: ModelInfo) -> list[Row]:
    """One row per input key: its `.out` scored against the threshold, or why there is none."""
    outputs = _output_objects(s3, plan)
    bucket = split_s3_uri(plan.output_uri)[0]
    reason = job.get("FailureReason") or f"no output (job {job.get('TransformJobStatus', 'unknown')})"
    rows = []
    for rel in plan.keys:
        if rel not in outputs:
            rows.append(Row(rel, error_code="transform_failed", error_message=reason[:300]))
            continue
        body = s3.get_object(Bucket=bucket, Key=outputs[rel])["Body"].read()
        rows.append(row_from_output(rel, body, model))
    return rows


def row_from_output(rel: str, body: bytes, model: ModelInfo) -> Row:
    """The endpoint's answer as a row, labelled by the model's threshold, refused below its guard's.

    `[p_benign, p_malignant]`, or with the guard `{"probabilities": [...], "lesion_score": s}`.
    """
    try:
        value = json.loads(body)
        if isinstance(value, dict):
            probs, score = value["probabilities"], value.get("lesion_score")
        else:
            probs, score = value, None
        p_benign, p_malignant = float(probs[0]), float(probs[1])
        lesion_score = None if score is None else float(score)
    except (ValueError, KeyError, IndexError, TypeError):
        return Row(rel, error_code="bad_answer", error_message=body[:200].decode("utf-8", "replace"))
    guard = model.guard_threshold
    if guard is not None and lesion_score is not None and lesion_score < guard:
        return Row(rel, refused=True, lesion_score=lesion_score, error_message=contract.NOT_A_LESION_MESSAGE)
    return Row(
        rel,
        label="malignant" if p_malignant >= model.threshold else "benign",
        p_benign=p_benign,
        p_malignant=p_malignant,
        threshold=model.threshold,
        model_version=model.version,
        lesion_score=lesion_score,
    )


@dataclass(frozen=True)
class ModelInfo:
    """What the API labels with, from the artifact's metadata.json."""

    threshold: float
    version: str
    guard_threshold: float | None = None  # metadata "guard": {"threshold"}; None without a guard


def model_info(sm: Any, s3: Any, model_name: str) -> ModelInfo:
    """The model artifact's metadata.json, read from the start of its tar.gz (stops at that file)."""
    model = sm.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    bucket, key = split_s3_uri(container["ModelDataUrl"])
    stream = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:  # forward only: S3's body cannot seek
        for member in tar:
            if PurePosixPath(member.name).name == METADATA_NAME and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                metadata = json.loads(handle.read())
                guard = metadata.get("guard")
                return ModelInfo(
                    threshold=float(metadata["threshold"]),
                    version=str(metadata.get("version", "")),
                    guard_threshold=float(guard["threshold"]) if isinstance(guard, dict) else None,
                )
    raise ValueError(f"{container['ModelDataUrl']} has no {METADATA_NAME}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `skinlesion batch s3://...`")
