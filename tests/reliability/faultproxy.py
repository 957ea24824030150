"""A fault-injecting HTTP proxy for the path Lambda -> SageMaker runtime (the local model server).

Put it between the gateway's Lambda and the model server (the Lambda's endpoint URL points at
the proxy), then switch faults at run time:

- PASS      forward every request unchanged
- DOWN      the listening socket is closed (new connections are refused) and kept-alive ones
            are closed unanswered, as with a stopped server
- SLOW      hold each request `delay_s` before forwarding (past the Lambda's read timeout)
- ERROR_500 the runtime's own failure: 500 InternalFailure
- MODEL_ERROR the model container failed: 424 ModelError
- THROTTLE / THROTTLE_429  ThrottlingException as a 400 (SageMaker) or a 429
- NOT_READY 429 ModelNotReadyException (a serverless endpoint still loading the model)
- UNAVAILABLE 503 ServiceUnavailable
- GARBAGE   200 with an HTML body instead of `[p_benign, p_malignant]`

Error bodies follow the AWS JSON protocol botocore parses (`x-amzn-ErrorType` + `__type`).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PASS, DOWN, SLOW = "pass", "down", "slow"
ERROR_500, MODEL_ERROR, THROTTLE = "error_500", "model_error", "throttle"
THROTTLE_429, NOT_READY, UNAVAILABLE = "throttle_429", "model_not_ready", "service_unavailable"
GARBAGE = "garbage_200"  # 200 with a body that is not the model's JSON (a broken inference.py)

# SageMaker runtime's error statuses: ThrottlingException is a 400 (AWS common error); some
# front ends answer throttling with 429, so both are injected.
_CANNED = {
    ERROR_500: (500, "InternalFailure", "An internal error occurred (fault injected)."),
    MODEL_ERROR: (424, "ModelError", "Received server error (500) from primary (fault injected)."),
    THROTTLE: (400, "ThrottlingException", "Rate exceeded (fault injected)."),
    THROTTLE_429: (429, "ThrottlingException", "Rate exceeded (fault injected)."),
    NOT_READY: (429, "ModelNotReadyException", "Model is not ready (fault injected)."),
    UNAVAILABLE: (503, "ServiceUnavailable", "Service unavailable (fault injected)."),
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        pass  # the proxy must not print request lines into the stack's logs

    def do_GET(self) -> None:  # stdlib naming
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy = self.server.proxy
        if proxy.mode == DOWN:
            # A kept-alive connection from before the fault: a dead server answers nothing.
            self.close_connection = True
            return
        proxy.hits += 1
        mode = proxy.mode
        if mode == SLOW:
            time.sleep(proxy.delay_s)
        if mode == GARBAGE:
            self._reply(200, {"Content-Type": "text/html"}, b"<html><body>upstream proxy error</body></html>")
            return
        if mode in _CANNED:
            status, kind, message = _CANNED[mode]
            payload = json.dumps({"__type": kind, "message": message}).encode()
            self._reply(status, {"Content-Type": "application/json", "x-amzn-ErrorType": kind}, payload)
            return
        try:
            status, headers, payload = proxy.forward(self.command, self.path, dict(self.headers), body)
        except OSError:
            self._reply(502, {"Content-Type": "text/plain"}, b"upstream unreachable")
            return
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its read timeout): that is the point of SLOW


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        super().__init__(address, _Handler)
        self.proxy = proxy


class FaultProxy:
    """Forward to `upstream` (http://host:port) with a switchable fault. Use as a context manager."""

    def __init__(
        self, upstream: str, *, host: str = "127.0.0.1", port: int = 0, delay_s: float = 5.0
    ) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_s = delay_s
        self.mode = PASS
        self.hits = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._address = (host, port)
        self._listen()

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self._address[1]}"

    def set(self, mode: str) -> None:
        """Switch the fault; DOWN closes the socket and leaving DOWN opens it on the same port."""
        if mode == DOWN and self._server is not None:
            self._close()
        elif mode != DOWN and self._server is None:
            self._listen()
        self.mode = mode

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        conn = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def _listen(self) -> None:
        self._server = _Server(self._address, self)
        self._address = self._server.server_address[:2]  # keep the port once chosen
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self._close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
