"""The bad-input corpus over real HTTP through the local stack's gateway, with a valid token.

GIVEN every case of corpus.py sent as a browser or curl would (Origin header, ID token)
THEN each gets its documented status and JSON body (a prediction for the valid-but-unusual
images), none gets a 5xx, every answer carries CORS headers, /health is normal afterwards, and
no log line the stack wrote during the run holds image bytes, their base64, or the token.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import pytest

import lesion_contract as contract

from . import corpus, wire
from .logcapture import LogCapture
from .summary import record

pytestmark = pytest.mark.e2e
MAX_SECONDS_PER_CASE = 20  # generous for 2 busy cores; a hang would take the full timeout
# Base64 of image magic numbers: JPEG/JFIF, PNG, RIFF (WebP); and repr() of raw magic bytes.
REQUEST_PATH_PARTS = ("gateway", "modelServer", "cognito")  # /health's localStack keys a prediction needs
IMAGE_MARKERS = ("/9j/4AAQ", "iVBORw0KGgo", "UklGR", "\\xff\\xd8\\xff", "\\x89PNG")


@pytest.fixture(scope="module")
def corpus_run(local_stack: dict[str, Any], id_token: str) -> dict[str, Any]:
    """Send every case once (and /health after), collecting replies and the logs written meanwhile."""
    health_url = wire.join(local_stack["apiUrl"], contract.ROUTE_HEALTH)
    health_before = wire.send(health_url, method="GET")
    capture = LogCapture(local_stack)
    origin = local_stack["webUrl"]
    replies = {}
    for name in corpus.NAMES:
        case = corpus.build(name)
        headers = {**case.headers, "Authorization": f"Bearer {id_token}", "Origin": origin}
        replies[name] = wire.send(
            wire.join(local_stack["apiUrl"], case.path), body=case.body, headers=headers
        )
    health = wire.send(health_url, method="GET")
    statuses = Counter(reply.status for reply in replies.values())
    record("bad input", f"{len(replies)} cases tried; status codes seen {dict(sorted(statuses.items()))}")
    logs = capture.text()
    return {
        "replies": replies,
        "health": health,
        "health_before": health_before,
        "logs": logs,
        "files": capture.files,
    }


@pytest.mark.parametrize("name", corpus.NAMES)
def test_case_gets_its_documented_answer(corpus_run: dict[str, Any], local_stack: dict, name: str) -> None:
    case, reply = corpus.build(name), corpus_run["replies"][name]
    assert reply.status < 500, f"{name}: {reply.status} {reply.body[:300]!r}"
    assert reply.status == case.status, f"{name}: want {case.status}, got {reply.status} {reply.body[:300]!r}"
    assert reply.headers.get("access-control-allow-origin") == local_stack["webUrl"], reply.headers
    assert reply.seconds < MAX_SECONDS_PER_CASE
    if case.kind == corpus.GATEWAY_TOO_LARGE:
        return  # API Gateway's own 413 above 10 MB: a text body, the handler never ran
    body = reply.json()
    if case.kind == corpus.GATEWAY_TOO_LONG:
        assert body == {"message": "Request Too Long"}
    elif case.kind == corpus.API_ERROR:
        assert_error_body(body, reply, case.code)
    else:
        assert_prediction(body, reply)


def assert_error_body(body: dict[str, Any], reply: wire.Reply, code: str | None) -> None:
    assert reply.headers.get("content-type", "").startswith(contract.JSON_CONTENT_TYPE)
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and len(body["error"]["message"]) > 10
    assert body["requestId"] == reply.headers.get(contract.REQUEST_ID_HEADER.lower())


def assert_prediction(body: dict[str, Any], reply: wire.Reply) -> None:
    probabilities = body["probabilities"]
    assert set(probabilities) == {"benign", "malignant"}
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert abs(sum(probabilities.values()) - 1.0) < 1e-3
    threshold = body["threshold"]
    assert 0.0 < threshold < 1.0
    assert body["label"] == ("malignant" if probabilities["malignant"] >= threshold else "benign")
    assert body["confidence"] == pytest.approx(probabilities[body["label"]], abs=1e-6)
    assert body["model"]["version"]
    assert body["requestId"] == reply.headers.get(contract.REQUEST_ID_HEADER.lower())


def test_no_case_got_a_5xx_and_health_is_normal_afterwards(corpus_run: dict[str, Any]) -> None:
    server_errors = {n: r.status for n, r in corpus_run["replies"].items() if r.status >= 500}
    assert not server_errors
    health = corpus_run["health"]
    assert health.status == 200
    document = health.json()
    assert document["status"] == "ok"
    # Every part that was up before the run is still up (the web page may be unbuilt: not ours).
    before = corpus_run["health_before"].json().get("localStack", {})
    after = document.get("localStack", {})
    went_down = [part for part, state in before.items() if state == "ok" and after.get(part) != "ok"]
    assert not went_down, (before, after)
    assert all(after.get(part, "ok") == "ok" for part in REQUEST_PATH_PARTS), after


def secrets_of(case: corpus.Case) -> list[str]:
    """Strings that would only be in a log if part of the image (or its base64) was logged."""
    found = []
    for data in (case.body, case.raw_image):
        if len(data) < 96:
            continue
        at = 3 * ((min(len(data), 4096) // 2) // 3)  # base64-aligned, inside the image's first 4 KB
        window = data[at : at + 48]
        found += [base64.b64encode(window).decode(), base64.urlsafe_b64encode(window).decode()]
        found += [window[:24].hex(), repr(window[:16])[2:-1]]
    return found


def test_logs_hold_no_image_bytes_and_no_token(corpus_run: dict[str, Any], id_token: str) -> None:
    logs = corpus_run["logs"]
    assert corpus_run["files"], "the stack's log files were not found beside its stack.json"
    assert "prediction" in logs or "request refused" in logs, "the run's log lines were not captured"
    assert id_token not in logs and id_token.rsplit(".", 1)[-1] not in logs, "a token was logged"
    leaked = [m for m in IMAGE_MARKERS if m in logs]
    leaked += [f"{n}: {s[:24]}" for n in corpus.NAMES for s in secrets_of(corpus.build(n)) if s in logs]
    assert not leaked, leaked
    lines = logs.count("\n")
    record("bad input", f"logs: {lines} lines written during the run; no image bytes, base64 or token")
