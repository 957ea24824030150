"""Gateway behaviour around the handler, with stand-in handlers: what API Gateway does when a
Lambda crashes, times out or returns garbage, and that the handler gets the proxy event."""

from __future__ import annotations

import time

import pytest
import requests

import lesion_contract as contract
from skinlesion.local.authorizer import Unauthorized
from skinlesion.local.gateway import Gateway, GatewayConfig
from skinlesion.local.lambda_runtime import LambdaInvoker
from stacks.config import ApiSettings

ORIGIN = "http://127.0.0.1:9999"
# A route the handler answers (the public ones are the gateway's own) and a token the stand-in
# authorizer below accepts: these tests are about what happens around the handler.
HANDLER_ROUTE = contract.ROUTE_MODEL
SIGNED_IN = {"Authorization": "Bearer accepted"}


class _AcceptsOneToken:
    def verify(self, header):
        if header != SIGNED_IN["Authorization"]:
            raise Unauthorized("not the test token")
        return {"sub": "user-1", "token_use": "id"}


def serve(handler, timeout_s: float = 1.0, throttles: ApiSettings | None = None) -> Gateway:
    config = GatewayConfig(
        endpoint_url="http://127.0.0.1:9", endpoint_name="e", model_metadata_uri="/nonexistent",
        allowed_origin=ORIGIN, authorizer=_AcceptsOneToken(), handler_timeout_s=timeout_s,  # type: ignore[arg-type]
        throttles=throttles,
    )  # fmt: skip
    return Gateway(("127.0.0.1", 0), config, LambdaInvoker(handler, timeout_s=timeout_s)).start()


@pytest.fixture
def gateway_with():
    started: list[Gateway] = []

    def make(handler, timeout_s: float = 1.0, throttles: ApiSettings | None = None) -> Gateway:
        started.append(serve(handler, timeout_s, throttles))
        return started[-1]

    yield make
    for gateway in started:
        gateway.stop()


def crash(event, context):
    raise RuntimeError("boom")


def slow(event, context):
    time.sleep(6)
    return {"statusCode": 200, "body": "late"}


@pytest.mark.parametrize(
    "handler", [crash, slow, lambda e, c: "not a proxy result"], ids=["crash", "timeout", "garbage"]
)
def test_handler_failures_are_502_internal_server_error_with_cors(gateway_with, handler):
    gateway = gateway_with(handler, timeout_s=0.5)
    started = time.monotonic()
    response = requests.get(f"{gateway.url}{HANDLER_ROUTE}", headers=SIGNED_IN, timeout=10)
    assert (response.status_code, response.json()) == (502, {"message": "Internal server error"})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    # The 0.5 s timeout cut the 6 s handler short (ten times loose: a busy machine cannot flake it).
    assert time.monotonic() - started < 5


def test_handler_gets_the_event_and_a_lambda_context(gateway_with):
    seen = {}

    def echo(event, context):
        seen.update(event=event, remaining=context.get_remaining_time_in_millis())
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    gateway = gateway_with(echo, timeout_s=5)
    response = requests.get(f"{gateway.url}{HANDLER_ROUTE}?x=1", headers=SIGNED_IN, timeout=10)
    assert (response.status_code, response.text) == (200, "ok")
    assert seen["event"]["queryStringParameters"] == {"x": "1"}
    assert 0 < seen["remaining"] <= 5000


@pytest.mark.parametrize("route", contract.ROUTES, ids=lambda route: route.path)
def test_preflight_answers_the_contracts_cors_values_on_every_route(gateway_with, route):
    # The stack's API Gateway preflight reads the same values (tests/cdk/test_predict_api.py).
    calls = []
    gateway = gateway_with(lambda e, c: calls.append(e))
    response = requests.options(
        f"{gateway.url}{route.path}",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": route.method},
        timeout=10,
    )
    assert response.status_code == 204 and calls == []
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == ",".join(contract.CORS_ALLOW_METHODS)
    assert response.headers["Access-Control-Allow-Headers"] == ",".join(contract.CORS_ALLOW_HEADERS)
    assert response.headers["Access-Control-Max-Age"] == str(contract.CORS_MAX_AGE_S)


def test_token_is_checked_before_the_handler_runs(gateway_with):
    calls = []
    gateway = gateway_with(lambda e, c: calls.append(e) or {"statusCode": 200, "body": ""})
    response = requests.post(
        f"{gateway.url}/predict", data=b"x", headers={"Authorization": "Bearer x.y.z"}, timeout=10
    )
    assert response.status_code == 401 and calls == []


def test_chunked_body_reaches_the_handler_whole(gateway_with):
    seen = {}

    def echo(event, context):
        seen["body"] = event["body"]
        return {"statusCode": 200, "body": ""}

    gateway = gateway_with(echo)
    requests.post(f"{gateway.url}/health", data=iter([b"ab", b"cd"]), timeout=10)  # a generator: chunked
    assert seen == {}  # POST /health is not a route: 404 before the handler
    chunked = iter([b"ab", b"cd"])
    response = requests.get(f"{gateway.url}{HANDLER_ROUTE}", data=chunked, headers=SIGNED_IN, timeout=10)
    assert response.status_code == 200 and seen["body"] == "abcd"


def test_unreadable_content_length_is_400_not_a_dropped_connection(gateway_with):
    import socket
    from urllib.parse import urlsplit

    gateway = gateway_with(lambda e, c: {"statusCode": 200, "body": ""})
    address = urlsplit(gateway.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")


@pytest.fixture
def isolated_handler_modules():
    """Leave os.environ and the predict_api modules as they were: other parts' tests import them."""
    import os
    import sys

    saved_env = dict(os.environ)
    saved = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] == "predict_api"}
    # Importing a submodule also sets it as an attribute of the (kept) package object, and a
    # later `from predict_api import endpoint` would find that stale copy: undo those too.
    saved_attrs = {name: set(vars(mod)) for name, mod in saved.items()}
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    for name in [n for n in sys.modules if n.split(".")[0] == "predict_api"]:
        del sys.modules[name]
    sys.modules.update(saved)
    for name, mod in saved.items():
        for attr in set(vars(mod)) - saved_attrs[name]:
            delattr(mod, attr)


def test_a_second_handler_load_gets_its_own_modules_and_endpoint_client(isolated_handler_modules):
    import inspect

    from skinlesion.local.lambda_runtime import load_handler

    env = {"ENDPOINT_NAME": "e", "MODEL_METADATA_URI": "/nonexistent", "ALLOWED_ORIGIN": ORIGIN,
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "POWERTOOLS_TRACE_DISABLED": "1"}  # fmt: skip
    first = load_handler({**env, "SAGEMAKER_RUNTIME_ENDPOINT_URL": "http://127.0.0.1:1"})
    second = load_handler({**env, "SAGEMAKER_RUNTIME_ENDPOINT_URL": "http://127.0.0.1:2"})
    first_endpoint = inspect.unwrap(first).__globals__["endpoint"]
    second_endpoint = inspect.unwrap(second).__globals__["endpoint"]
    assert first_endpoint is not second_endpoint
    assert first_endpoint._client.meta.endpoint_url == "http://127.0.0.1:1"
    assert second_endpoint._client.meta.endpoint_url == "http://127.0.0.1:2"
