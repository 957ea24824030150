"""Proxy events and results as API Gateway REST builds and reads them (no servers needed)."""

from __future__ import annotations

import base64

import pytest

from skinlesion.local.authorizer import claims_as_api_gateway
from skinlesion.local.events import HttpRequest, MalformedResult, http_response, proxy_event


def request(body: bytes = b"", content_type: str | None = None, query: str = "") -> HttpRequest:
    headers = [("Host", "127.0.0.1:8081"), ("Accept", "a"), ("Accept", "b")]
    if content_type:
        headers.append(("Content-Type", content_type))
    return HttpRequest("POST", "/predict", query, headers, body, "127.0.0.1", "127.0.0.1:8081", "req-1")


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "image/png", "image/webp", "application/x-image", "IMAGE/JPEG; q=1"]
)
def test_binary_media_types_arrive_base64_encoded(content_type):
    event = proxy_event(
        request(b"\xff\xd8\xff", content_type), resource="/predict", stage="prod", claims=None
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xd8\xff"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "image/gif", None])
def test_other_bodies_arrive_as_text(content_type):
    event = proxy_event(
        request(b'{"image": "x"}', content_type), resource="/predict", stage="prod", claims=None
    )
    assert event["isBase64Encoded"] is False and event["body"] == '{"image": "x"}'


def test_event_carries_headers_query_and_context_like_api_gateway():
    claims = {"sub": "u-1", "token_use": "id"}
    event = proxy_event(request(query="a=1&a=2&b="), resource="/predict", stage="prod", claims=claims)
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["headers"]["Accept"] == "b" and event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    context = event["requestContext"]
    assert (context["stage"], context["requestId"], context["path"]) == ("prod", "req-1", "/prod/predict")
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["authorizer"] == {"claims": claims}
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/predict", "/predict", "POST")


def test_no_query_string_is_null_as_in_api_gateway():
    event = proxy_event(request(), resource="/predict", stage="prod", claims=None)
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    assert "authorizer" not in event["requestContext"]


def test_claims_become_strings_as_the_cognito_authorizer_passes_them():
    out = claims_as_api_gateway({"exp": 0, "email_verified": True, "cognito:groups": ["a", "b"], "sub": "x"})
    assert out == {
        "exp": "Thu Jan 01 00:00:00 UTC 1970",
        "email_verified": "true",
        "cognito:groups": "[a, b]",
        "sub": "x",
    }


def test_result_headers_merge_with_multi_value_winning():
    status, headers, body = http_response(
        {
            "statusCode": 201,
            "headers": {"A": "1", "B": "2"},
            "multiValueHeaders": {"B": ["3", "4"]},
            "body": "hi",
        }
    )
    assert (status, body) == (201, b"hi")
    assert sorted(headers) == [("A", "1"), ("B", "3"), ("B", "4")]


def test_base64_result_body_is_decoded():
    result = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    assert http_response(result)[2] == b"\x00\x01"


@pytest.mark.parametrize(
    "result", [None, "text", {"body": "x"}, {"statusCode": "200"}, {"statusCode": 200, "body": 5}]
)
def test_malformed_results_are_refused(result):
    with pytest.raises(MalformedResult):
        http_response(result)
