"""A real HTTP server on loopback that speaks the SageMaker runtime wire format.

`POST /endpoints/{name}/invocations` answers like SageMaker does (rest-json):
200 with the model's JSON body, or an error with the `x-amzn-ErrorType` header
and JSON body botocore parses into a ClientError. A request that asks for the
guard's score (`CustomAttributes: lesion-score=true` or `Accept:
application/vnd.skinlesion+json`, the extension docs/api.md documents) gets
`{"probabilities": [...], "lesion_score": ...}` as the artifact's inference.py
answers it; other requests get the original `[p_benign, p_malignant]`. The handler
reaches it through boto3 with SAGEMAKER_RUNTIME_ENDPOINT_URL, exactly as it reaches
the local stack's model server, so the tests exercise the real client, its timeouts
and retries.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_INVOCATIONS = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")
ACCOUNT = "123456789012"


@dataclass
class Invocation:
    """One request the server received."""

    endpoint: str
    content_type: str
    accept: str
    body: bytes
    custom_attributes: str = ""


@dataclass
class State:
    """What the server answers; tests change it, a fixture resets it."""

    endpoints: set[str] = field(default_factory=set)
    # ok | model_error | model_client_error | throttling | too_many_requests | not_in_service | slow | garbage
    mode: str = "ok"
    scores: tuple[float, float] = (0.8, 0.2)
    lesion_score: float | None = 0.9  # what the guarded model answers to the extension (None: no guard)
    original_status: int = 400  # the container's status inside a model_client_error ModelError
    slow_s: float = 2.0
    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.coral.service/"},
        (json.dumps(body).encode()),
    )


GUARD_ACCEPT = "application/vnd.skinlesion+json"


def wants_lesion_score(invocation: Invocation) -> bool:
    """The guard extension: CustomAttributes `lesion-score=true` or the vendor Accept type."""
    attributes = dict(
        item.strip().split("=", 1) for item in invocation.custom_attributes.split(",") if "=" in item
    )
    return attributes.get("lesion-score", "").lower() == "true" or invocation.accept == GUARD_ACCEPT


def _model_error(name: str, status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    kind = "client" if status < 500 else "server"
    return _error(
        424,
        "ModelError",
        {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "Message": f'Received {kind} error ({status}) from primary with message "{message}".',
            "OriginalStatusCode": status,
            "OriginalMessage": message,
            "LogStreamArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
        },
    )


def _answer(state: State, name: str, invocation: Invocation) -> tuple[int, dict[str, str], bytes]:
    if name not in state.endpoints:
        return _error(400, "ValidationError", {"message": f"Endpoint {name} of account {ACCOUNT} not found."})
    mode = state.mode
    if mode == "not_in_service":
        message = f"Endpoint {name} of account {ACCOUNT} is in Creating status, not InService."
        return _error(400, "ValidationError", {"message": message})
    if mode == "model_error":
        return _model_error(name, 500, "model crashed")
    if mode == "model_client_error":
        message = '{"title": "Bad request", "description": "the image could not be decoded or scored"}'
        return _model_error(name, state.original_status, message)
    if mode == "throttling":
        return _error(400, "ThrottlingException", {"message": "Rate exceeded"})
    if mode == "too_many_requests":
        return 429, {}, b'{"message": "Too Many Requests"}'
    if mode == "slow":
        time.sleep(state.slow_s)
    if mode == "garbage":
        return 200, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>"
    if wants_lesion_score(invocation):
        answer = {"probabilities": list(state.scores), "lesion_score": state.lesion_score}
        content_type = GUARD_ACCEPT if invocation.accept == GUARD_ACCEPT else "application/json"
        return 200, {"Content-Type": content_type}, json.dumps(answer).encode()
    return 200, {"Content-Type": "application/json"}, json.dumps(list(state.scores)).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # http.server's naming
        match = _INVOCATIONS.match(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if match is None:
            self._send(404, {}, b'{"message": "unknown route"}')
            return
        state = self.server.state
        name = match["name"]
        invocation = Invocation(
            name,
            self.headers.get("Content-Type", ""),
            self.headers.get("Accept", ""),
            body,
            self.headers.get("X-Amzn-SageMaker-Custom-Attributes", ""),
        )
        with state.lock:
            state.invocations.append(invocation)
        status, headers, payload = _answer(state, name, invocation)
        # The client may have given up (read timeout): nothing left to answer then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": "fake-sm-request", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        pass  # keep test output quiet


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeSageMakerRuntime:
    """Starts the server in a thread; `url` is the endpoint URL override to give boto3."""

    def __init__(self, *endpoints: str) -> None:
        self.state = State(endpoints=set(endpoints))
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeSageMakerRuntime:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self.state.lock:
            self.state.mode = "ok"
            self.state.scores = (0.8, 0.2)
            self.state.lesion_score = 0.9
            self.state.original_status = 400
            self.state.invocations.clear()
