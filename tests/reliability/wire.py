"""Raw HTTP for the reliability tests: exact bytes and headers on the wire, plus a local sign-in.

`http.client` rather than requests: it sends no Content-Type we did not ask for, passes header
values given as bytes untouched (UTF-8 in a header), and lets a test read a server's early 413
even when the server stops reading a 12 MB body half way.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from skinlesion.local import idp

TIMEOUT_S = 60


@dataclass
class Reply:
    """What came back: status, headers (lower-cased names), body, and the time it took."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json


def send(
    url: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str | bytes] | None = None,
    timeout: float = TIMEOUT_S,
) -> Reply:
    """Send one request to `url` (http only: the local stack is loopback)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        # The server may answer early (e.g. 413) and close: then read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(body)
        response = conn.getresponse()
        data = response.read()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, reply_headers, data, time.perf_counter() - started)
    finally:
        conn.close()


def join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def sign_in(stack: dict[str, Any], *, username: str | None = None, password: str | None = None) -> dict:
    """USER_PASSWORD_AUTH against the stack's Cognito endpoint; returns AuthenticationResult."""
    return idp.sign_in(
        stack["cognitoEndpoint"],
        stack["userPoolClientId"],
        username or stack["username"],
        password or stack["password"],
        timeout_s=TIMEOUT_S,
    )
