"""The local stack's attack surface: loopback only, and the web server serves only the web build.

GIVEN the running local stack
THEN every URL it publishes is on loopback (the model server and the sign-in have no auth of
their own, as inside AWS, so they must not be reachable from the network), and no path on
the web server, however encoded, reads a file outside the web build (the repository's own
files and /etc/passwd included).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TRAVERSALS = (
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/../pyproject.toml",
    "/..%2fpyproject.toml",
    "/....//....//pyproject.toml",
)
SECRETS = (b"root:x:0:0", b"[build-system]", b"[project]")


def raw_get(url: str, path: str) -> bytes:
    """GET `path` exactly as written (no client-side normalisation of dot segments)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        received = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                received += chunk
    return received


def test_every_published_url_is_loopback(local_stack: dict[str, Any]) -> None:
    urls = {k: v for k, v in local_stack.items() if k.endswith(("Url", "Endpoint")) and isinstance(v, str)}
    assert urls, local_stack
    assert {k: urlsplit(v).hostname for k, v in urls.items() if urlsplit(v).hostname not in LOOPBACK} == {}


@pytest.mark.parametrize("path", TRAVERSALS)
def test_web_server_serves_nothing_outside_the_build(local_stack: dict[str, Any], path: str) -> None:
    received = raw_get(local_stack["webUrl"], path)
    assert received.startswith(b"HTTP/1."), received[:100]
    assert not any(secret in received for secret in SECRETS), f"{path} leaked a file: {received[:300]!r}"
