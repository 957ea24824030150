"""API Gateway REST (v1) Lambda-proxy events and results, as the real API builds and reads them.

`proxy_event` builds the event API Gateway sends for one request: single- and multi-value
headers and query strings, the body base64-encoded with `isBase64Encoded: true` when the
request's Content-Type is one of the API's binary media types (UTF-8 text otherwise), and
a requestContext with the stage, request id, source IP and the Cognito authorizer's claims.
`http_response` turns the handler's result back into status, headers and body bytes.
"""

from __future__ import annotations

import base64
import fnmatch
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import lesion_contract as contract

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"


@dataclass
class HttpRequest:
    """One request as the gateway received it (headers in arrival order, repeats kept)."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitively (as API Gateway's `headers` map)."""
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[-1] if found else None


def is_binary(
    content_type: str | None, binary_media_types: tuple[str, ...] = contract.BINARY_MEDIA_TYPES
) -> bool:
    """Whether API Gateway base64-encodes this body: its media type matches a binary media type."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    return bool(media_type) and any(
        fnmatch.fnmatchcase(media_type, pattern) for pattern in binary_media_types
    )


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]] | None:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out or None


def proxy_event(
    request: HttpRequest,
    *,
    resource: str,
    stage: str,
    claims: dict[str, str] | None,
    binary_media_types: tuple[str, ...] = contract.BINARY_MEDIA_TYPES,
) -> dict[str, Any]:
    """The REST API proxy-integration event for `request`."""
    headers = list(request.headers) + [("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http")]
    multi_headers = _multi(headers) or {}
    query_pairs = parse_qsl(request.query, keep_blank_values=True)
    multi_query = _multi(query_pairs)
    binary = is_binary(request.header("Content-Type"), binary_media_types)
    if not request.body:
        body = None
    elif binary:
        body = base64.b64encode(request.body).decode("ascii")
    else:
        body = request.body.decode("utf-8", "replace")  # API Gateway passes non-binary bodies as text
    now = time.time()
    context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "resourceId": resource.strip("/") or "root",
        "resourcePath": resource,
        "httpMethod": request.method,
        "path": f"/{stage}{request.path}",
        "stage": stage,
        "requestId": request.request_id,
        "extendedRequestId": request.request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "protocol": "HTTP/1.1",
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "identity": {
            "sourceIp": request.source_ip,
            "userAgent": request.header("User-Agent"),
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "accessKey": None,
            "apiKey": None,
            "apiKeyId": None,
        },
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {key: values[-1] for key, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()}
        if multi_query
        else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": binary and body is not None,
    }


class MalformedResult(ValueError):
    """The handler returned something API Gateway would answer 502 for."""


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from a proxy-integration result; MalformedResult if it is not one."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise MalformedResult(f"not a proxy result: {type(result).__name__}")
    # API Gateway merges both maps; for a name in both, multiValueHeaders wins.
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    multi = {name.lower() for name, _ in headers}
    headers += [(str(k), str(v)) for k, v in (result.get("headers") or {}).items() if k.lower() not in multi]
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise MalformedResult("body is not a string")
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return result["statusCode"], headers, raw
