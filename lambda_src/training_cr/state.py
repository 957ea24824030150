"""Job names and the small per-job record that links a SageMaker job to its wait handle.

The custom resource starts a job and returns; minutes or hours later the event
handler sees the job finish and has to know which WaitCondition to signal and with
which quality bar. That link is a JSON object in the artifacts bucket,
`pipeline/jobs/<job-name>.json`, written before the job starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from training_cr.aws import client, error_code

RECORD_PREFIX = "pipeline/jobs/"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_HASH_CHARS = 12


def job_name(prefix: str, *parts: str) -> str:
    """`<prefix>-<12 hex>`: a stable name for the same inputs, a new one for new inputs.

    SageMaker job names are unique per account and region forever, so the bucket
    name is one of the parts: a stack deleted and deployed again (new bucket) gets
    new names, while a rollback within one stack finds its old job by name.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:_HASH_CHARS]
    name = f"{prefix}-{digest}"
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r} is not a valid SageMaker job name (prefix too long?)")
    return name


@dataclass(frozen=True)
class JobRecord:
    """What the event handler needs to finish a job's story."""

    kind: str  # "training" or "import"
    job_name: str
    wait_handle_url: str
    bucket: str
    min_auc: float = 0.0  # training: the quality gate
    dataset_prefix: str = ""  # import: where manifest.json lands
    fingerprint: str = ""


def record_key(name: str) -> str:
    return f"{RECORD_PREFIX}{name}.json"


def put_record(record: JobRecord) -> None:
    client("s3").put_object(
        Bucket=record.bucket,
        Key=record_key(record.job_name),
        Body=json.dumps(asdict(record), sort_keys=True).encode(),
        ContentType="application/json",
    )


def get_record(bucket: str, name: str) -> JobRecord | None:
    """The record of job `name`, or None for a job this stack did not start."""
    try:
        body = client("s3").get_object(Bucket=bucket, Key=record_key(name))["Body"].read()
    except Exception as err:
        # NoSuchBucket: the stack is being deleted and its bucket went first.
        if error_code(err) in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
            return None
        raise
    data: dict[str, Any] = json.loads(body)
    return JobRecord(**data)


def s3_exists(bucket: str, key: str) -> bool:
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except Exception as err:
        if error_code(err) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
