"""Fuzzing over the wire: arbitrary headers, content types, paths and bodies through the local gateway.

GIVEN requests a client could really send (any header names and latin-1 values, any media type,
query strings, mutated images), signed with a valid token or carrying garbage instead
THEN the gateway, the authorizer and the handler answer each with JSON and a status below 500,
and the stack keeps answering /health.
"""

from __future__ import annotations

import string
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lesion_contract as contract

from . import wire
from .test_fuzz import CONTENT_TYPES, mutated_images

pytestmark = pytest.mark.e2e
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
HEADER_NAME = st.text(TOKEN_CHARS, min_size=1, max_size=24).filter(
    lambda n: n.lower() not in ("content-length", "transfer-encoding", "host", "connection", "expect")
)
HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
# CR and LF cannot be sent inside a header value (the client refuses; it would split the header).
ON_THE_WIRE_CONTENT_TYPES = CONTENT_TYPES.filter(lambda c: c is None or not ({"\r", "\n"} & set(c)))
PATHS = st.sampled_from(
    (contract.ROUTE_PREDICT,) * 4 + (contract.ROUTE_MODEL, contract.ROUTE_HEALTH)
).flatmap(
    lambda p: st.one_of(
        st.just(p), st.text(string.ascii_letters + "=&%0-9", max_size=20).map(lambda q: f"{p}?{q}")
    )
)


@st.composite
def requests(draw: st.DrawFn, token: str) -> dict[str, Any]:
    headers: dict[str, str | bytes] = dict(draw(st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=5)))
    content_type = draw(st.one_of(st.sampled_from(contract.IMAGE_CONTENT_TYPES), ON_THE_WIRE_CONTENT_TYPES))
    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "content-type")}
    if content_type is not None:
        headers["Content-Type"] = content_type.encode("utf-8")  # non-latin-1 text goes as UTF-8 bytes
    if draw(st.integers(0, 4)):  # mostly signed in, so the handler is reached
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers["Authorization"] = draw(HEADER_VALUE)
    body = draw(st.one_of(mutated_images(), st.binary(max_size=512)))
    return {"path": draw(PATHS), "headers": headers, "body": body}


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_request_over_the_wire_gets_json_below_500(local_stack, id_token, data) -> None:
    request = data.draw(requests(id_token))
    method = "POST" if request["path"].split("?")[0] == contract.ROUTE_PREDICT else "GET"
    url = wire.join(local_stack["apiUrl"], request["path"])
    body = request["body"] if method == "POST" else b""
    reply = wire.send(url, method=method, body=body, headers=request["headers"])
    hypothesis.event(f"status {reply.status}")
    assert reply.status < 500, (reply.status, reply.body[:300])
    assert isinstance(reply.json(), dict)


def test_health_is_normal_after_the_fuzzing(local_stack) -> None:
    health = wire.send(wire.join(local_stack["apiUrl"], contract.ROUTE_HEALTH), method="GET")
    assert health.status == 200 and health.json()["status"] == "ok"
