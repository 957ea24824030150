"""What a Batch Transform job will do and cost, settled before anything starts.

The model and the output location come from flags, else from the stack's outputs
(`BatchModelName`, `BatchOutputUri`, written by stacks/constructs/batch_transform.py;
without them, the model behind the stack's `EndpointName`). The cost is the instance
hours the job is expected to take times the Batch Transform price in prices.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, TextIO

from skinlesion.cost import CostError

OUTPUT_MODEL = "BatchModelName"
OUTPUT_OUTPUT_URI = "BatchOutputUri"
OUTPUT_ENDPOINT = "EndpointName"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png"})  # what the graph decodes (not WebP)
STARTUP_HOURS = 0.1  # instances are billed from launch: about 6 minutes before the first image
MAX_PAYLOAD_LIMIT_MB = 100  # SageMaker's upper bound for MaxPayloadInMB


@dataclass(frozen=True)
class Plan:
    job_name: str
    model_name: str
    input_uri: str
    output_uri: str
    keys: tuple[str, ...]  # relative to the input prefix
    total_bytes: int
    instance_type: str
    instance_count: int
    max_concurrent: int
    max_payload_mb: int
    instance_hours: float
    hourly_price: float
    prices_as_of: str
    image_seconds: float

    @property
    def cost(self) -> float:
        return self.instance_hours * self.hourly_price


def default_job_name(now: datetime | None = None) -> str:
    return "skinlesion-batch-" + (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix/)")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def list_keys(s3: Any, uri: str, *, all_files: bool) -> tuple[list[str], int, int]:
    """Relative keys of the images under a prefix, their total and largest size in bytes."""
    bucket, prefix = split_s3_uri(uri)
    keys, total, largest = [], 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :].lstrip("/")
            if not rel or rel.endswith("/") or any(p.startswith(".") for p in PurePosixPath(rel).parts):
                continue
            if all_files or PurePosixPath(rel).suffix.lower() in IMAGE_SUFFIXES:
                keys.append(rel)
                total, largest = total + obj["Size"], max(largest, obj["Size"])
    return sorted(keys), total, largest


def stack_outputs(cfn: Any, stack: str | None) -> dict[str, str]:
    if not stack:
        return {}
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def endpoint_model(sm: Any, endpoint_name: str) -> str:
    """The model a deployed endpoint serves (its endpoint config's first variant)."""
    config = sm.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
    return sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]


def make_plan(a: argparse.Namespace, sm: Any, s3: Any, cfn: Any, prices: dict[str, Any]) -> Plan:
    """Everything the job needs; ValueError (one line for the user) when something is missing."""
    input_uri = a.source if a.source.endswith("/") else a.source + "/"
    job = _attached_job(sm, a.attach, input_uri) if a.attach else _new_job(a, sm, cfn)
    keys, total, largest = list_keys(s3, input_uri, all_files=a.all_files)
    if not keys:
        raise ValueError(f"no images (.jpg, .jpeg, .png) under {input_uri}")
    if not 1 <= job["max_payload_mb"] <= MAX_PAYLOAD_LIMIT_MB:
        raise ValueError(f"--max-payload is 1 to {MAX_PAYLOAD_LIMIT_MB} MB")
    if largest > job["max_payload_mb"] * 1024 * 1024:
        raise ValueError(
            f"an image is {largest / 1e6:.1f} MB, above --max-payload {job['max_payload_mb']} MB: raise it "
            f"(at most {MAX_PAYLOAD_LIMIT_MB}) or shrink the images"
        )
    if job["instance_count"] < 1 or job["max_concurrent"] < 1:
        raise ValueError("--instance-count and --max-concurrent are at least 1")
    table = prices["sagemaker"].get("batch_transform_per_instance_hour", {})
    if job["instance_type"] not in table:
        known = ", ".join(sorted(table))
        raise CostError(
            f"no Batch Transform price for {job['instance_type']} in prices.json (known: {known})"
        )
    return Plan(
        input_uri=input_uri,
        keys=tuple(keys),
        total_bytes=total,
        instance_hours=len(keys) * a.image_seconds / 3600 + job["instance_count"] * STARTUP_HOURS,
        hourly_price=float(table[job["instance_type"]]),
        prices_as_of=str(prices["sagemaker"].get("batch_transform_as_of", prices["as_of"])),
        image_seconds=a.image_seconds,
        **job,
    )


def _new_job(a: argparse.Namespace, sm: Any, cfn: Any) -> dict[str, Any]:
    """Model and output from the flags, else from the stack's outputs."""
    outputs = stack_outputs(cfn, a.stack)
    model = a.model or outputs.get(OUTPUT_MODEL)
    if not model and outputs.get(OUTPUT_ENDPOINT):
        model = endpoint_model(sm, outputs[OUTPUT_ENDPOINT])
    if not model:
        raise ValueError("no model for Batch Transform: pass --stack NAME (a deployed stack) or --model NAME")
    job_name = a.job_name or default_job_name()
    base = a.output_s3 or outputs.get(OUTPUT_OUTPUT_URI)
    if not base:
        raise ValueError("no output location: pass --output-s3 s3://bucket/prefix/ or --stack NAME")
    output_uri = base.rstrip("/") + "/" + job_name + "/"
    split_s3_uri(output_uri)
    return {
        "job_name": job_name,
        "model_name": model,
        "output_uri": output_uri,
        "instance_type": a.instance_type,
        "instance_count": a.instance_count,
        "max_concurrent": a.max_concurrent,
        "max_payload_mb": a.max_payload,
    }


def _attached_job(sm: Any, job_name: str, input_uri: str) -> dict[str, Any]:
    """An existing job's settings (`--attach`): its output is joined, nothing new starts."""
    job = sm.describe_transform_job(TransformJobName=job_name)
    source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    if source.rstrip("/") != input_uri.rstrip("/"):
        raise ValueError(f"job {job_name} read {source}, not {input_uri}")
    return {
        "job_name": job_name,
        "model_name": job["ModelName"],
        "output_uri": job["TransformOutput"]["S3OutputPath"],
        "instance_type": job["TransformResources"]["InstanceType"],
        "instance_count": job["TransformResources"]["InstanceCount"],
        "max_concurrent": job.get("MaxConcurrentTransforms", 1),
        "max_payload_mb": job.get("MaxPayloadInMB", 6),
    }


def estimate_text(plan: Plan) -> str:
    return (
        f"{len(plan.keys)} images ({plan.total_bytes / 1e6:.1f} MB) under {plan.input_uri}\n"
        f"Batch Transform job {plan.job_name}: model {plan.model_name}, "
        f"{plan.instance_type} x{plan.instance_count}, output {plan.output_uri}\n"
        f"Expected: about {plan.instance_hours:.2f} instance hours, about ${plan.cost:.2f} "
        f"(${plan.hourly_price:.3f} per instance hour, prices.json as of {plan.prices_as_of}; "
        f"assumes {plan.image_seconds:g} s per image and {STARTUP_HOURS * 60:.0f} min of start-up "
        "per instance; estimates, check current pricing)\n"
    )


def confirm(yes: bool, err: TextIO, *, stdin: TextIO | None = None) -> bool:
    """--yes, or a 'y' typed at a terminal; without a terminal and without --yes, nothing starts."""
    if yes:
        return True
    stdin = stdin or sys.stdin
    if stdin is None or not stdin.isatty():
        err.write("Pass --yes to start the job without a terminal to confirm at.\n")
        return False
    err.write("Start the job? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")
