"""Request headers are read from either map API Gateway sends: `headers` and `multiValueHeaders`.

A REST API proxy event carries both; other producers (a test client, an ALB-style
integration, the local gateway) may fill only one. The handler reads them through
Powertools' event helpers, so a request is judged the same either way.
"""

from __future__ import annotations

import pytest

from . import imagegen
from .conftest import invoke, make_event


@pytest.mark.parametrize("keep", ["headers", "multiValueHeaders"])
def test_content_type_is_found_in_either_header_map(lambda_app, keep):
    event = make_event(imagegen.jpeg())
    dropped = "multiValueHeaders" if keep == "headers" else "headers"
    event[dropped] = None

    answer = invoke(lambda_app, event)

    assert answer.status == 200, answer.body


def test_multi_value_only_event_still_refuses_a_wrong_type(lambda_app):
    event = make_event(imagegen.jpeg(), content_type="image/gif")
    event["headers"] = None

    answer = invoke(lambda_app, event)

    assert (answer.status, answer.body["error"]["code"]) == (415, "unsupported_media_type")
    assert "image/gif" in answer.body["error"]["message"]


def test_the_last_of_repeated_content_type_values_counts_as_api_gateway_does(lambda_app):
    # API Gateway's single-value map keeps the last value of a repeated header.
    event = make_event(imagegen.jpeg())
    event["headers"] = None
    event["multiValueHeaders"]["Content-Type"] = ["text/plain", "image/jpeg"]

    assert invoke(lambda_app, event).status == 200
