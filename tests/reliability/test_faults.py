"""Faults between the Lambda and the model: the API answers with JSON, in time, and recovers.

GIVEN a second local gateway (skinlesion.local.gateway, the same handler code) whose endpoint
URL points at a fault-injecting proxy in front of the running stack's model server
WHEN the model server is down, slow past the read timeout, failing (500 / ModelError), or
throttling (ThrottlingException as 400 or 429)
THEN the API answers 503 / 504 / 503 / 503 / 429 (and 503 for a model not ready, the service
unavailable, or a 200 whose body is not the model's answer) with the JSON error body and CORS,
within the endpoint client's worst case (attempts x (connect + read) + one backoff), retrying at
most ENDPOINT_MAX_ATTEMPTS times, and answers 200 again as soon as the fault ends, with no
restart. Timeouts are shortened (same factory, `endpoint.make_client`) so the suite stays fast;
the contract's real values are checked to nest inside the Lambda's and API Gateway's timeouts.
"""

from __future__ import annotations

import inspect
import json
import os
from types import SimpleNamespace
from typing import Any

import pytest

import lesion_contract as contract
from skinlesion.local.authorizer import CognitoAuthorizer
from skinlesion.local.gateway import Gateway, GatewayConfig

from . import faultproxy as fp
from . import images, wire
from .summary import record

pytestmark = pytest.mark.e2e
# Shortened bounds prove the mechanism here; tests/lambda/test_budget.py sums the shipped ones.
CONNECT_S, READ_S, ATTEMPTS = 1.0, 2.0, contract.ENDPOINT_MAX_ATTEMPTS
BACKOFF_S = 1.0  # botocore standard retry: the first retry waits at most 1 s (jittered)
MARGIN_S = 3.0  # two busy cores
DEADLINE_S = ATTEMPTS * (CONNECT_S + READ_S) + BACKOFF_S + MARGIN_S
FAULTS = (  # mode, status, retried?
    (fp.DOWN, 503, True),
    (fp.SLOW, 504, True),
    (fp.ERROR_500, 503, True),
    (fp.MODEL_ERROR, 503, False),
    (fp.THROTTLE, 429, True),
    (fp.THROTTLE_429, 429, True),
    (fp.NOT_READY, 503, False),
    (fp.UNAVAILABLE, 503, True),
    (fp.GARBAGE, 503, False),
)
SURVIVED: list[str] = []


def authorizer_for(stack: dict[str, Any]) -> CognitoAuthorizer:
    pool = stack["userPoolId"]
    return CognitoAuthorizer(
        jwks_url=f"{stack['cognitoEndpoint'].rstrip('/')}/{pool}/.well-known/jwks.json",
        issuer=f"https://cognito-idp.{stack['region']}.amazonaws.com/{pool}",
        client_id=stack["userPoolClientId"],
    )


@pytest.fixture(scope="module")
def faulty(local_stack: dict[str, Any], id_token: str, tmp_path_factory: pytest.TempPathFactory):
    """A gateway whose Lambda reaches the model server only through a FaultProxy."""
    model = wire.send(
        wire.join(local_stack["apiUrl"], contract.ROUTE_MODEL),
        method="GET",
        headers={"Authorization": f"Bearer {id_token}"},
    )
    assert model.status == 200, model.body[:300]
    metadata = tmp_path_factory.mktemp("faults") / "metadata.json"
    metadata.write_text(json.dumps({k: v for k, v in model.json().items() if k != "requestId"}))
    proxy = fp.FaultProxy(local_stack["modelServerUrl"], delay_s=READ_S + 1)
    saved_environ = dict(os.environ)  # Gateway.create sets the Lambda's env process-wide
    config = GatewayConfig(
        endpoint_url=proxy.url,
        endpoint_name=local_stack["endpointName"],
        model_metadata_uri=str(metadata),
        allowed_origin=local_stack["webUrl"],
        authorizer=authorizer_for(local_stack),
        region=local_stack["region"],
    )
    gateway = Gateway.create(config, port=0).start()
    # The handler's own endpoint module (this gateway loaded a fresh copy): shorter bounds.
    endpoint = inspect.unwrap(gateway.invoker.handler).__globals__["endpoint"]
    endpoint._client = endpoint.make_client(
        proxy.url, connect_timeout=CONNECT_S, read_timeout=READ_S, max_attempts=ATTEMPTS
    )
    yield SimpleNamespace(proxy=proxy, url=gateway.url, origin=local_stack["webUrl"], token=id_token)
    gateway.stop()
    proxy.close()
    os.environ.clear()
    os.environ.update(saved_environ)
    record("faults", f"survived {len(SURVIVED)} of {len(FAULTS)}: {', '.join(SURVIVED)}")


def predict(faulty: SimpleNamespace) -> wire.Reply:
    headers = {
        "Content-Type": "image/jpeg",
        "Authorization": f"Bearer {faulty.token}",
        "Origin": faulty.origin,
    }
    return wire.send(wire.join(faulty.url, contract.ROUTE_PREDICT), body=images.jpeg(), headers=headers)


@pytest.mark.parametrize("mode,status,retried", FAULTS)
def test_fault_gets_json_error_in_time_and_recovers(faulty, mode: str, status: int, retried: bool) -> None:
    faulty.proxy.set(fp.PASS)
    assert predict(faulty).status == 200, "the path works before the fault"

    faulty.proxy.set(mode)
    hits_before = faulty.proxy.hits
    reply = predict(faulty)
    hits = faulty.proxy.hits - hits_before

    faulty.proxy.set(fp.PASS)
    assert reply.status == status, reply.body[:300]
    body = reply.json()
    assert body["error"]["code"] == contract.ERROR_CODES[status] and body["error"]["message"]
    assert body["requestId"]
    assert reply.headers.get("access-control-allow-origin") == faulty.origin
    assert reply.seconds < DEADLINE_S, f"{mode}: answered after {reply.seconds:.1f} s"
    if status == 429:
        assert reply.headers.get("retry-after"), "429 tells the client when to retry"
    if mode != fp.DOWN:  # refused connections never reach the proxy
        assert hits == (ATTEMPTS if retried else 1), f"{mode}: {hits} attempts"

    recovered = predict(faulty)
    assert recovered.status == 200, f"no recovery after {mode}: {recovered.body[:300]!r}"
    SURVIVED.append(f"{mode}->{status} in {reply.seconds:.1f}s")
