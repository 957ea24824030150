"""The local gateway's share of issue 19 (docs/security.md): the public routes are its own
answers, as the stack's MOCK integrations are, and with `throttles` each method has the
stage's token bucket, so a flood of public requests cannot starve POST /predict."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from predict_api import openapi

import lesion_contract as contract
from skinlesion.local.gateway import Gateway, GatewayConfig
from skinlesion.local.lambda_runtime import LambdaInvoker
from skinlesion.local.throttle import TokenBucket
from stacks.config import ApiSettings

from .test_gateway import ORIGIN, SIGNED_IN, _AcceptsOneToken


class _Recorder:
    """A stand-in handler that takes `work_s` per call and remembers which paths reached it."""

    def __init__(self, work_s: float = 0.0) -> None:
        self.paths: list[str] = []
        self.work_s = work_s

    def __call__(self, event, context):
        self.paths.append(event["path"])
        time.sleep(self.work_s)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def start():
    started: list[Gateway] = []

    def make(handler, throttles: ApiSettings | None = None, concurrency: int = 32) -> Gateway:
        config = GatewayConfig(
            endpoint_url="http://127.0.0.1:9", endpoint_name="e", model_metadata_uri="/nonexistent",
            allowed_origin=ORIGIN, authorizer=_AcceptsOneToken(), throttles=throttles,  # type: ignore[arg-type]
        )  # fmt: skip
        invoker = LambdaInvoker(handler, timeout_s=5, max_concurrency=concurrency)
        started.append(Gateway(("127.0.0.1", 0), config, invoker).start())
        return started[-1]

    yield make
    for gateway in started:
        gateway.stop()


def test_health_and_openapi_are_answered_by_the_gateway_never_the_handler(start):
    handler = _Recorder()
    gateway = start(handler)

    health = requests.get(f"{gateway.url}/health", headers={"Origin": ORIGIN}, timeout=10)
    document = requests.get(f"{gateway.url}/openapi.json", timeout=10)

    assert handler.paths == []
    assert health.status_code == 200
    request_id = health.headers[contract.REQUEST_ID_HEADER]
    assert health.json() == {"status": contract.HEALTH_STATUS, "requestId": request_id}
    assert health.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert health.headers["Content-Type"] == contract.JSON_CONTENT_TYPE
    assert (document.status_code, document.json()) == (200, openapi.document())


def test_a_method_past_its_burst_gets_429_throttled_with_cors_and_others_keep_theirs(start):
    handler = _Recorder()
    # Public routes: a burst of 2, then one token per 100 s (the test never sees a refill).
    gateway = start(handler, ApiSettings(public_rate_limit=0.01, public_burst_limit=2))

    answers = [requests.get(f"{gateway.url}/health", timeout=10) for _ in range(3)]
    predict = requests.post(f"{gateway.url}/predict", data=b"x", headers=SIGNED_IN, timeout=10)

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == contract.ERROR_CODES[429]
    assert answers[2].headers["Access-Control-Allow-Origin"] == ORIGIN
    assert predict.status_code == 200  # /predict has its own bucket
    assert handler.paths == ["/predict"]


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_flood_of_public_requests_does_not_starve_predict(start):
    # GIVEN the stage's default limits and a handler with 2 instances (reserved concurrency)
    # that takes 0.1 s per call
    handler = _Recorder(work_s=0.1)
    gateway = start(handler, ApiSettings(), concurrency=2)
    stop = threading.Event()
    flood: list[int] = []

    def hammer(path: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                flood.append(session.get(f"{gateway.url}{path}", timeout=10).status_code)

    threads = [threading.Thread(target=hammer, args=(path,)) for path in contract.GATEWAY_ROUTES * 4]
    for thread in threads:
        thread.start()
    # WHEN a signed-in user sends predictions at 3 a second (under /predict's 5) during the flood
    latencies, statuses = [], []
    try:
        time.sleep(0.3)
        for _ in range(6):
            started = time.monotonic()
            response = requests.post(f"{gateway.url}/predict", data=b"x", headers=SIGNED_IN, timeout=10)
            latencies.append(time.monotonic() - started)
            statuses.append(response.status_code)
            time.sleep(max(0.0, 0.33 - latencies[-1]))
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    slowest = max(latencies)
    print(f"\nflood: {len(flood)} public requests, {flood.count(429)} got 429; predict max {slowest:.3f} s")
    # THEN every prediction was answered, promptly, and the flood never reached the handler
    assert statuses == [200] * 6
    assert max(latencies) < 2.0, latencies  # 0.1 s of work; 20x loose for a busy machine
    assert set(handler.paths) == {"/predict"}
    # ...and the flood itself was held to the public routes' limits (burst 2 + 1/s each)
    assert len(flood) > 50, "the flood was too thin to prove anything"
    assert set(flood) <= {200, 429}
    assert flood.count(200) <= 2 * (2 + 1 * 4)  # two routes, each burst 2 + 1/s over < 4 s
