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
MAX_ATTEMPTS = 20  # SageMaker job names are never reused, so each retry needs a new one


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


def attempt_name(base: str, attempt: int) -> str:
    """`base` for the first attempt, `base-r2`, `base-r3`… for retries of a failed or stopped job."""
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError(f"attempt must be 1..{MAX_ATTEMPTS}, got {attempt}")
    name = base if attempt == 1 else f"{base}-r{attempt}"
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r} is not a valid SageMaker job name")
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


class S3AccessDenied(PermissionError):
    """S3 answered 403: the role may not read the key (or, for a missing key, list the bucket)."""


def s3_exists(bucket: str, key: str) -> bool:
    """True/False for 200/404; a 403 is no answer to "does it exist?" and raises S3AccessDenied.

    S3 answers HEAD on a missing key with 403, not 404, when the caller lacks
    s3:ListBucket, so treating 403 as "absent" would re-run an import whose
    dataset is there.
    """
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except Exception as err:
        code = error_code(err)
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise S3AccessDenied(
                f"s3://{bucket}/{key}: access denied (HTTP 403). The role needs s3:GetObject on the key "
                "and s3:ListBucket on the bucket (without it a missing key answers 403, not 404)."
            ) from err
        raise
    return True


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
