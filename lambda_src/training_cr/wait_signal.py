"""Signalling a CloudFormation WaitCondition through its handle's presigned URL.

CloudFormation expects an HTTP PUT of the JSON document
`{"Status": "SUCCESS"|"FAILURE", "Reason": str, "UniqueId": str, "Data": str}` with no
content type (the URL is presigned without one). A FAILURE fails the WaitCondition at
once, with `Reason` in the stack events, which is how a failed job fails `cdk deploy`
within minutes instead of at the timeout.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
# Stack events truncate long reasons; keep the part that says what happened.
MAX_REASON_CHARS = 1000
_ATTEMPTS = 4


class SignalError(RuntimeError):
    """The handle URL refused the signal after retries."""


class HandleGone(SignalError):
    """The handle answered 4xx: its WaitCondition was deleted (a replaced or deleted stack's job)."""


def signal_body(*, status: str, reason: str, unique_id: str, data: str) -> bytes:
    """The exact document CloudFormation reads from a wait-condition signal."""
    if status not in (SUCCESS, FAILURE):
        raise ValueError(f"status must be {SUCCESS} or {FAILURE}, got {status!r}")
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    return json.dumps({"Status": status, "Reason": reason, "UniqueId": unique_id, "Data": data}).encode()


def send_signal(url: str, *, status: str, reason: str, unique_id: str, data: str = "") -> None:
    """PUT the signal; retries transient failures (the URL is S3, which can answer 5xx)."""
    body = signal_body(status=status, reason=reason, unique_id=unique_id, data=data)
    for attempt in range(1, _ATTEMPTS + 1):
        # An explicit empty Content-Type: urllib would otherwise add a form type the
        # presigned URL was not signed with.
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # https handle URL
                log.info("signalled %s for %s (HTTP %s)", status, unique_id, response.status)
                return
        except urllib.error.HTTPError as err:
            if err.code < 500:
                raise HandleGone(f"wait handle refused the signal: HTTP {err.code}") from err
            if attempt == _ATTEMPTS:
                raise SignalError(f"wait handle refused the signal: HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError) as err:
            if attempt == _ATTEMPTS:
                raise SignalError(f"wait handle unreachable: {err}") from err
        time.sleep(0.5 * 2**attempt)
