"""A job's CloudWatch log streams: copied into the artifacts bucket, deleted with the job.

SageMaker writes job logs to account-wide log groups the stack does not own. The
event handler copies a finished job's streams next to its outputs (so the logs live
and die with the bucket), and the custom resource's Delete removes the streams, so
nothing of the pipeline outlives `cdk destroy`.
"""

from __future__ import annotations

import logging

from training_cr.aws import client, error_code

log = logging.getLogger(__name__)

LOG_GROUPS = {"training": "/aws/sagemaker/TrainingJobs", "import": "/aws/sagemaker/ProcessingJobs"}
# A runaway job could log gigabytes; the copy keeps the first part, the rest stays in CloudWatch.
MAX_BYTES_PER_STREAM = 20 * 1024 * 1024


def stream_names(kind: str, job: str) -> list[str]:
    """Names of the job's streams (`<job>/algo-1-…`), [] when the group does not exist yet."""
    logs = client("logs")
    names: list[str] = []
    kwargs = {"logGroupName": LOG_GROUPS[kind], "logStreamNamePrefix": f"{job}/"}
    try:
        while True:
            page = logs.describe_log_streams(**kwargs)
            names += [s["logStreamName"] for s in page.get("logStreams", [])]
            if not page.get("nextToken"):
                return names
            kwargs["nextToken"] = page["nextToken"]
    except Exception as err:
        if error_code(err) == "ResourceNotFoundException":
            return []
        raise


def _read_stream(group: str, stream: str) -> str:
    logs = client("logs")
    lines: list[str] = []
    size = 0
    kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while size < MAX_BYTES_PER_STREAM:
        page = logs.get_log_events(**kwargs)
        for event in page.get("events", []):
            lines.append(event["message"].rstrip("\n"))
            size += len(event["message"]) + 1
        token = page.get("nextForwardToken")
        if not page.get("events") or token == kwargs.get("nextToken"):
            break
        kwargs["nextToken"] = token
    return "\n".join(lines) + ("\n" if lines else "")


def export_logs(kind: str, job: str, bucket: str, key_prefix: str) -> list[str]:
    """Copy each stream to `<key_prefix><stream, '/' -> '_'>.log`; returns the keys written."""
    keys = []
    for stream in stream_names(kind, job):
        key = f"{key_prefix}{stream.replace('/', '_')}.log"
        text = _read_stream(LOG_GROUPS[kind], stream)
        client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/plain")
        keys.append(key)
    log.info("copied %d log stream(s) of %s to s3://%s/%s", len(keys), job, bucket, key_prefix)
    return keys


def delete_streams(kind: str, job: str) -> int:
    """Delete the job's streams; returns how many went."""
    deleted = 0
    for stream in stream_names(kind, job):
        try:
            client("logs").delete_log_stream(logGroupName=LOG_GROUPS[kind], logStreamName=stream)
            deleted += 1
        except Exception as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
    return deleted
