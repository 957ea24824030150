"""When the model side fails, the client gets 429 / 503 / 504 with the contract's JSON, never a raw 500.

The failures come over the wire from a real HTTP server in SageMaker's format,
through the same boto3 client (timeouts, retries) the Lambda uses in AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import imagegen
from .conftest import invoke, make_event


def _predict(app):
    return invoke(app, make_event(imagegen.jpeg()))


@pytest.mark.parametrize(
    ("mode", "status", "code", "words"),
    [
        ("model_error", 503, "model_unavailable", "failed to process"),
        ("not_in_service", 503, "model_unavailable", "not in service"),
        ("throttling", 429, "throttled", "retry"),
        ("too_many_requests", 429, "throttled", "retry"),
        ("garbage", 503, "model_unavailable", "cannot read"),
    ],
)
def test_endpoint_failure_maps_to_the_contract_status(lambda_app, sagemaker, mode, status, code, words):
    sagemaker.state.mode = mode

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (status, code), answer.body
    assert words in answer.body["error"]["message"]
    assert answer.headers["x-request-id"] == answer.body["requestId"]


def test_throttled_answer_tells_the_client_when_to_retry(lambda_app, sagemaker):
    sagemaker.state.mode = "throttling"

    answer = _predict(lambda_app)

    assert answer.headers["retry-after"] == "1"
    # bounded retries: the client's budget is contract.ENDPOINT_MAX_ATTEMPTS calls, no more
    assert len(sagemaker.state.invocations) == lambda_app.contract.ENDPOINT_MAX_ATTEMPTS


def test_unknown_endpoint_is_model_unavailable(lambda_app, sagemaker, monkeypatch):
    monkeypatch.setattr(lambda_app.endpoint, "ENDPOINT_NAME", "skin-lesion-deleted")

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (503, "model_unavailable")
    assert "does not exist" in answer.body["error"]["message"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_down_endpoint_is_model_unavailable(lambda_app, monkeypatch):
    down = lambda_app.endpoint.make_client(f"http://127.0.0.1:{_closed_port()}", max_attempts=1)
    monkeypatch.setattr(lambda_app.endpoint, "_client", down)

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (503, "model_unavailable")
    assert "cannot be reached" in answer.body["error"]["message"]


def test_slow_endpoint_is_a_504_within_the_read_timeout(lambda_app, sagemaker, monkeypatch):
    # GIVEN a model that takes 5 s and a client whose read timeout is 0.3 s (8 s in production)
    sagemaker.state.mode, sagemaker.state.slow_s = "slow", 5.0
    hasty = lambda_app.endpoint.make_client(sagemaker.url, read_timeout=0.3, max_attempts=1)
    monkeypatch.setattr(lambda_app.endpoint, "_client", hasty)

    started = time.monotonic()
    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (504, "model_timeout")
    # Cut short at the read timeout, long before the model answers (ten times loose: cannot flake).
    assert time.monotonic() - started < 3


def test_metadata_that_cannot_be_read_is_model_unavailable(lambda_app, sagemaker, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_METADATA_URI", str(tmp_path / "missing" / "model.tar.gz"))

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (503, "model_unavailable")
    assert sagemaker.state.invocations == []


def test_a_bug_is_a_json_500_without_details(lambda_app, monkeypatch, captured_output):
    def broken(_image: bytes, **_: object) -> None:
        raise RuntimeError("secret internals: /var/task/predict_api")

    monkeypatch.setattr(lambda_app.endpoint, "classify", broken)

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (500, "internal_error")
    assert "secret" not in answer.body["error"]["message"]
    assert "RuntimeError: secret internals" in captured_output()  # the traceback is in the log


def test_a_function_without_endpoint_name_fails_at_init_saying_what_to_set():
    env = {k: v for k, v in os.environ.items() if k != "ENDPOINT_NAME"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "lambda_src")

    result = subprocess.run(
        [sys.executable, "-c", "import predict_api.app"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "ConfigurationError: ENDPOINT_NAME is not set" in result.stderr


@pytest.mark.parametrize(
    ("original", "status", "code"),
    [
        (400, 400, "bad_request"),
        (415, 400, "bad_request"),
        (413, 422, "image_rejected"),
        (422, 422, "image_rejected"),
    ],
)
def test_model_error_carrying_a_container_4xx_is_a_client_error_not_503(
    lambda_app, sagemaker, original, status, code
):
    # GIVEN the container refused the request itself (SageMaker: 424 ModelError, OriginalStatusCode 4xx)
    sagemaker.state.mode = "model_client_error"
    sagemaker.state.original_status = original

    answer = _predict(lambda_app)

    # THEN the client hears it was the image, not a 5xx, and the call was not retried
    assert (answer.status, answer.body["error"]["code"]) == (status, code), answer.body
    assert "model could not" in answer.body["error"]["message"]
    assert len(sagemaker.state.invocations) == 1


def test_model_error_for_a_full_batching_queue_is_throttled_with_retry_after(lambda_app, sagemaker):
    # TF Serving's batching queue is full (Unavailable -> the container's 503): busy, not broken.
    sagemaker.state.mode = "model_client_error"
    sagemaker.state.original_status = 503

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (429, "throttled"), answer.body
    assert answer.headers["retry-after"] == "1"
