"""The local gateway behaves as the deployed API does at the HTTP edges.

- An unknown path, or a known path with a method it lacks, gets what the template's
  MISSING_AUTHENTICATION_TOKEN gateway response sets (status and error code), with CORS.
- A chunked request body is read (API Gateway accepts them), not left on the connection.
- A malformed Content-Length gets a 400, not a dropped connection.
So code and tests written against the local stack hold in AWS.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import pytest

import lesion_contract as contract

from . import images, wire

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed_missing_route(synthesized) -> tuple[int, dict[str, Any]]:
    """(status, body with requestId "id") of the deployed MISSING_AUTHENTICATION_TOKEN response."""
    for res in synthesized.of_type("AWS::ApiGateway::GatewayResponse").values():
        props = res["Properties"]
        if props["ResponseType"] == "MISSING_AUTHENTICATION_TOKEN":
            template = props["ResponseTemplates"]["application/json"].replace("$context.requestId", "id")
            return int(props.get("StatusCode", 403)), json.loads(template)
    return 403, {"message": "Missing Authentication Token"}  # API Gateway's default


@pytest.mark.parametrize(("method", "path"), [("POST", "/predictions"), ("GET", contract.ROUTE_PREDICT)])
def test_unknown_route_gets_the_deployed_answer(local_stack, id_token, deployed_missing_route, method, path):
    status, body = deployed_missing_route
    headers = {"Authorization": f"Bearer {id_token}", "Origin": local_stack["webUrl"]}
    reply = wire.send(wire.join(local_stack["apiUrl"], path), method=method, headers=headers)
    assert reply.status == status
    got = reply.json()
    assert got.get("error", {}).get("code") == body.get("error", {}).get("code"), got
    assert reply.headers.get("access-control-allow-origin") == local_stack["webUrl"]


def raw_exchange(stack: dict[str, Any], request: bytes) -> bytes:
    """Send raw bytes on one connection and read until the server closes it (or 5 s pass)."""
    host, port = stack["apiUrl"].split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                received += chunk
    return received


def chunked(data: bytes, size: int = 1000) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def test_chunked_upload_gets_a_prediction(local_stack, id_token) -> None:
    # API Gateway accepts chunked request bodies; HTTP clients send them when the length is not
    # known up front (e.g. requests with a generator). One answer, and it is the prediction.
    head = (
        f"POST {contract.ROUTE_PREDICT} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {id_token}\r\n"
        "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    received = raw_exchange(local_stack, head.encode() + chunked(images.jpeg()))
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    assert received.count(b"HTTP/1.") == 1, "the chunks were parsed as a second request"


def test_malformed_content_length_gets_a_400(local_stack) -> None:
    head = f"POST {contract.ROUTE_PREDICT} HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n"
    received = raw_exchange(local_stack, head.encode())
    assert received.startswith(b"HTTP/1.1 400"), received[:300]
