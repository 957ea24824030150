"""Time budgets: every wait on the request path fits inside the Lambda's timeout, which fits inside
API Gateway's, so a slow dependency gets the handler's JSON, never the gateway's bare 504.

The model's metadata is read at init (its S3 read fits the init phase); a request never waits
on it unless that read failed, and then only with the time its own budget leaves.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import lesion_contract as contract

from .conftest import FakeLambdaContext, import_fresh_app, invoke, make_event
from .imagegen import jpeg


def _worst_case_s(config) -> float:
    """A botocore client's longest wait: every attempt times out connecting and then reading."""
    return config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)


def test_every_budget_on_the_request_path_fits_the_lambda_and_the_gateway(lambda_app) -> None:
    # GIVEN the bounds the shipped clients are built with (not the constants they came from)
    endpoint = lambda_app.endpoint._client.meta.config
    metadata_at_init = lambda_app.metadata.s3_config()
    attempts = endpoint.retries["total_max_attempts"]
    backoff = attempts * contract.ENDPOINT_RETRY_BACKOFF_S

    # THEN a request's waits (decode, every endpoint attempt, the answer margin) end before the
    # Lambda times out, and the Lambda times out before API Gateway gives up on it ...
    request_path = contract.HANDLER_WORK_BUDGET_S + _worst_case_s(endpoint) + backoff
    request_path += lambda_app._ANSWER_MARGIN_S
    assert request_path < contract.LAMBDA_TIMEOUT_S < contract.API_INTEGRATION_TIMEOUT_S
    # ... and the metadata read is not on it: it fits the init phase beside the import.
    init_phase = contract.LAMBDA_IMPORT_BUDGET_S + _worst_case_s(metadata_at_init)
    assert init_phase < contract.LAMBDA_INIT_LIMIT_S


def test_a_request_retrying_the_metadata_gets_only_the_time_left(lambda_app) -> None:
    # GIVEN the init read failed, WHEN a request retries it with 1.5 s left, THEN the S3 client
    # is bounded to that: one attempt whose connect and read timeouts add up to 1.5 s.
    config = lambda_app.metadata.s3_config(1.5)
    assert config.retries["total_max_attempts"] == 1
    assert _worst_case_s(config) == pytest.approx(1.5)


def test_metadata_is_read_at_init_so_requests_do_not_wait_on_it(lambda_env, tmp_path, sagemaker) -> None:
    # GIVEN a container started with readable metadata
    path = tmp_path / "metadata.json"
    path.write_text(Path(lambda_env["MODEL_METADATA_URI"]).read_text())
    app = import_fresh_app({**lambda_env, contract.ENV_MODEL_METADATA_URI: str(path)})
    sagemaker.reset()
    # WHEN the metadata becomes unreadable afterwards
    path.unlink()

    answer = invoke(app, make_event(jpeg((64, 64))))

    # THEN requests still answer from what init read
    assert answer.status == 200, answer.body
    assert (
        answer.body["threshold"]
        == json.loads(Path(lambda_env["MODEL_METADATA_URI"]).read_text())["threshold"]
    )


def test_without_metadata_and_no_time_left_for_it_the_answer_is_503_at_once(
    lambda_app, sagemaker, monkeypatch
) -> None:
    # GIVEN init could not read the metadata (forgotten by the per-test fixture) and only the
    # endpoint's own worst case is left on the clock
    endpoint_worst = lambda_app._ENDPOINT_WORST_S
    context = FakeLambdaContext(remaining_ms=int(endpoint_worst * 1000))

    started = time.monotonic()
    answer = invoke(lambda_app, make_event(jpeg((64, 64))), context)

    # THEN the client gets the 503 JSON at once: neither the metadata nor the endpoint is tried
    assert (answer.status, answer.body["error"]["code"]) == (503, "model_unavailable")
    assert "not loaded yet" in answer.body["error"]["message"]
    assert sagemaker.state.invocations == []
    assert time.monotonic() - started < 5  # no wait at all; ten times loose


@pytest.fixture
def silent_s3(monkeypatch) -> Iterator[str]:
    """An 'S3' that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.getsockname()[1]}")
    yield "s3://artifacts/models/metadata.json"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_silent_s3_costs_a_request_no_more_than_its_budget(lambda_app, silent_s3, monkeypatch) -> None:
    # GIVEN metadata on an S3 that never answers, WHEN a request retries the read with 0.6 s left
    monkeypatch.setenv(contract.ENV_MODEL_METADATA_URI, silent_s3)
    started = time.monotonic()
    with pytest.raises(lambda_app.metadata.MetadataError):
        lambda_app.metadata.current(seconds_left=0.6)
    # THEN it gives up on time (botocore's own default would wait 60 s per attempt)
    assert time.monotonic() - started < 6  # ten times the budget: a loaded machine cannot flake it
