"""A real HTTP server on loopback that speaks the SageMaker runtime wire format.

`POST /endpoints/{name}/invocations` answers like SageMaker does (rest-json):
200 with the model's JSON body, or an error with the `x-amzn-ErrorType` header
and JSON body botocore parses into a ClientError. The handler reaches it through
boto3 with SAGEMAKER_RUNTIME_ENDPOINT_URL, exactly as it reaches the local stack's
model server, so the tests exercise the real client, its timeouts and retries.
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


@dataclass
class State:
    """What the server answers; tests change it, a fixture resets it."""

    endpoints: set[str] = field(default_factory=set)
    mode: str = "ok"  # ok | model_error | throttling | too_many_requests | not_in_service | slow | garbage
    scores: tuple[float, float] = (0.8, 0.2)
    slow_s: float = 2.0
    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.coral.service/"},
        (json.dumps(body).encode()),
    )


def _answer(state: State, name: str) -> tuple[int, dict[str, str], bytes]:
    if name not in state.endpoints:
        return _error(400, "ValidationError", {"message": f"Endpoint {name} of account {ACCOUNT} not found."})
    mode = state.mode
    if mode == "not_in_service":
        message = f"Endpoint {name} of account {ACCOUNT} is in Creating status, not InService."
        return _error(400, "ValidationError", {"message": message})
    if mode == "model_error":
        return _error(
            424,
            "ModelError",
            {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                "Message": 'Received server error (500) from primary with message "model crashed".',
                "OriginalStatusCode": 500,
                "OriginalMessage": "model crashed",
                "LogStreamArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            },
        )
    if mode == "throttling":
        return _error(400, "ThrottlingException", {"message": "Rate exceeded"})
    if mode == "too_many_requests":
        return 429, {}, b'{"message": "Too Many Requests"}'
    if mode == "slow":
        time.sleep(state.slow_s)
    if mode == "garbage":
        return 200, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>"
    return 200, {"Content-Type": "application/json"}, json.dumps(list(state.scores)).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        match = _INVOCATIONS.match(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if match is None:
            self._send(404, {}, b'{"message": "unknown route"}')
            return
        state = self.server.state
        name = match["name"]
        with state.lock:
            state.invocations.append(
                Invocation(name, self.headers.get("Content-Type", ""), self.headers.get("Accept", ""), body)
            )
        status, headers, payload = _answer(state, name)
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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
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
            self.state.invocations.clear()
