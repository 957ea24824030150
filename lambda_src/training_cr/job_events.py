"""EventBridge handler: a SageMaker job of this stack reached a final state.

Rules deliver "SageMaker Training Job State Change" and "SageMaker Processing Job
State Change" events for this stack's job-name prefix. For Completed, Failed or
Stopped jobs the handler finds the job's record (which WaitCondition, which quality
bar), judges the job and signals. Anything else (other states, other jobs) is
ignored. A raised error makes EventBridge retry the invocation.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from training_cr.outcome import TERMINAL, finish
from training_cr.state import get_record
from training_cr.wait_signal import HandleGone

log = logging.getLogger()
log.setLevel(logging.INFO)

ENV_BUCKET = "ARTIFACTS_BUCKET"
TRAINING_EVENT = "SageMaker Training Job State Change"
PROCESSING_EVENT = "SageMaker Processing Job State Change"


def parse_event(event: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(job name, status, failure reason, model URL) of a job event; None for other events."""
    detail = event.get("detail") or {}
    kind = event.get("detail-type")
    if kind == TRAINING_EVENT:
        model_url = (detail.get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
        return (
            detail.get("TrainingJobName", ""),
            detail.get("TrainingJobStatus", ""),
            detail.get("FailureReason", ""),
            model_url,
        )
    if kind == PROCESSING_EVENT:
        reason = detail.get("FailureReason") or detail.get("ExitMessage") or ""
        return detail.get("ProcessingJobName", ""), detail.get("ProcessingJobStatus", ""), reason, ""
    return None


def handler(event: dict[str, Any], _context: Any) -> dict[str, str]:
    parsed = parse_event(event)
    if parsed is None:
        log.warning("ignoring event of type %r", event.get("detail-type"))
        return {"result": "ignored"}
    name, status, reason, model_url = parsed
    if status not in TERMINAL:
        return {"result": "ignored", "job": name, "status": status}
    record = get_record(os.environ[ENV_BUCKET], name)
    if record is None:
        log.warning("no pipeline record for job %s: not started by this stack", name)
        return {"result": "ignored", "job": name, "status": status}
    try:
        verdict = finish(record, status, reason, model_url)
    except HandleGone as err:
        # The job was stopped by a replacement or a stack delete: nobody waits any more.
        log.warning("job %s ended (%s) after its wait was removed: %s", name, status, err)
        return {"result": "handle-gone", "job": name, "status": status}
    return {"result": verdict.status, "job": name, "reason": verdict.reason}
