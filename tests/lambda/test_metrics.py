"""The Lambda's metrics as CloudWatch receives them: EMF lines with the names, units and dimensions
that the stack's dashboard and alarms read (lesion_contract.metrics), and nothing about the image
or the user."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import lesion_contract as contract
from lesion_contract import metrics as names

from . import imagegen
from .conftest import METADATA, invoke, make_event

NAMESPACE = "SkinLesionTest"
SERVICE = "predict-api-test"


def emf_blobs(output: str) -> list[dict[str, Any]]:
    """Every EMF document in `output` (one JSON object a line with an `_aws` key)."""
    blobs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def emitted(blobs: list[dict[str, Any]]) -> list[tuple[str, str, tuple[str, ...], dict[str, str]]]:
    """(metric name, unit, dimension names, dimension values) for each metric in the blobs."""
    found = []
    for blob in blobs:
        [directive] = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        [dimensions] = directive["Dimensions"]
        values = {key: blob[key] for key in dimensions}
        for metric in directive["Metrics"]:
            found.append((metric["Name"], metric["Unit"], tuple(dimensions), values))
    return found


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """predict_api.telemetry imported under the test namespace; the earlier copy put back after."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    package = importlib.import_module("predict_api")
    earlier = sys.modules.pop("predict_api.telemetry", None)
    earlier_attr = getattr(package, "telemetry", None)
    module = importlib.import_module("predict_api.telemetry")
    module.metrics.clear_metrics()
    yield module
    module.metrics.clear_metrics()
    sys.modules.pop("predict_api.telemetry", None)
    if earlier is not None:
        sys.modules["predict_api.telemetry"] = earlier
    if earlier_attr is not None:
        package.telemetry = earlier_attr
    elif hasattr(package, "telemetry"):
        delattr(package, "telemetry")


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body), "multiValueHeaders": {}}


def _error(status: int, code: str) -> dict[str, Any]:
    return _response(status, {"error": {"code": code, "message": "m"}, "requestId": "r-1"})


def test_a_prediction_counts_one_request_with_its_label_and_the_handler_latency(telemetry, capsys):
    answer = {"label": "malignant", "probabilities": {"benign": 0.2, "malignant": 0.8}, "requestId": "r-1"}

    outcome = telemetry.request_done(_response(200, answer), milliseconds=42.5)
    telemetry.metrics.flush_metrics()
    found = emitted(emf_blobs(capsys.readouterr().out))

    assert outcome == "malignant"
    assert (
        "Requests",
        "Count",
        ("service", "outcome"),
        {"service": SERVICE, "outcome": "malignant"},
    ) in found
    assert ("Latency", "Milliseconds", ("service",), {"service": SERVICE}) in found


# Every code the Lambda can answer with, and the guard's refusal.
ERROR_OUTCOMES = sorted(contract.ERROR_CODES.items()) + [(422, names.REFUSAL)]


@pytest.mark.parametrize(("status", "code"), ERROR_OUTCOMES, ids=[code for _, code in ERROR_OUTCOMES])
def test_each_error_code_and_the_refusal_is_its_own_outcome(telemetry, capsys, status, code):
    telemetry.request_done(_error(status, code), milliseconds=3.0)
    found = emitted(emf_blobs(capsys.readouterr().out))

    assert found == [("Requests", "Count", ("service", "outcome"), {"service": SERVICE, "outcome": code})]


def test_a_successful_non_prediction_is_ok(telemetry, capsys):
    telemetry.request_done(_response(200, {"status": "ok", "requestId": "r"}), milliseconds=1.0)

    [(_, _, _, values)] = emitted(emf_blobs(capsys.readouterr().out))
    assert values["outcome"] == names.OUTCOME_OK


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "'; DROP TABLE users; --", "message": "m"}},  # an unknown code
        {"error": "not an object"},
        "[1, 2]",
        "not json at all",
    ],
)
def test_an_unexpected_error_body_falls_back_to_the_status_code_not_to_its_text(telemetry, body):
    raw = body if isinstance(body, str) else json.dumps(body)

    assert telemetry.outcome_of({"statusCode": 503, "body": raw}) == "model_unavailable"
    assert telemetry.outcome_of({"statusCode": 400, "body": raw}) == "bad_request"


def test_a_label_the_api_does_not_have_is_not_a_dimension_value(telemetry):
    assert telemetry.outcome_of(_response(200, {"label": "<script>"})) == names.OUTCOME_OK


def test_an_image_records_its_bytes_and_pixel_size_bucket_never_its_content(telemetry, capsys):
    telemetry.image_received(received_bytes=812_345, endpoint_bytes=120_000, width=3000, height=4000)
    telemetry.endpoint_latency(87.0)
    telemetry.metrics.flush_metrics()
    blobs = emf_blobs(capsys.readouterr().out)
    found = emitted(blobs)

    assert ("Images", "Count", ("service", "size"), {"service": SERVICE, "size": "2048-4095px"}) in found
    request_set = {(name, unit) for name, unit, dims, _ in found if dims == ("service",)}
    assert request_set == {
        ("ImageBytes", "Bytes"),
        ("EndpointBytes", "Bytes"),
        ("EndpointLatency", "Milliseconds"),
    }
    [batch] = [b for b in blobs if "ImageBytes" in b]
    assert batch["ImageBytes"] == [812_345.0] and batch["EndpointLatency"] == [87.0]


def test_a_prediction_carries_the_model_version_as_a_dimension(telemetry, capsys):
    telemetry.prediction(label="benign", model_version="2026-11-29T12-00-00Z-abc123")

    [(name, unit, dims, values)] = emitted(emf_blobs(capsys.readouterr().out))
    assert (name, unit, dims) == ("Predictions", "Count", ("service", "label", "model_version"))
    assert values["model_version"] == "2026-11-29T12-00-00Z-abc123" and values["label"] == "benign"


@pytest.mark.parametrize(
    ("width", "height", "bucket"),
    [
        (32, 32, "under-224px"),
        (223, 100, "under-224px"),
        (224, 224, "224-511px"),
        (600, 1023, "512-1023px"),
        (1024, 768, "1024-2047px"),
        (4095, 10, "2048-4095px"),
        (4096, 4096, "4096px-plus"),
        (9000, 7000, "4096px-plus"),
    ],
)
def test_size_buckets_follow_the_longest_side(width, height, bucket):
    assert names.size_bucket(width, height) == bucket


def test_every_metric_the_lambda_writes_has_a_unit_and_dimensions_in_the_contract():
    assert set(names.UNITS) == set(names.DIMENSIONS)
    assert {"Requests", "Latency", "EndpointLatency", "ImageBytes", "Images", "Predictions"} <= set(
        names.UNITS
    )


# --- through the handler: what one request writes, for a success, each error code and a refusal ----


GUARD = {"output": "lesion_score", "threshold": 0.42, "method": "test", "validation": {"n": 10}}
# Dimension names and metric names are all an EMF document may hold besides `_aws`.
ALLOWED_KEYS = (
    {"_aws", names.DIM_SERVICE} | {d for dims in names.DIMENSIONS.values() for d in dims} | set(names.UNITS)
)


def _setup_model_timeout(app, sagemaker, monkeypatch):
    sagemaker.state.mode, sagemaker.state.slow_s = "slow", 1.0
    monkeypatch.setattr(
        app.endpoint, "_client", app.endpoint.make_client(sagemaker.url, read_timeout=0.2, max_attempts=1)
    )


def _setup_bug(app, sagemaker, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.endpoint, "classify", broken)


def _setup_refusal(app, sagemaker, monkeypatch, tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({**METADATA, "guard": GUARD}))
    monkeypatch.setenv("MODEL_METADATA_URI", str(path))
    app.metadata.forget()
    sagemaker.state.lesion_score = 0.1  # below the guard's threshold: not a lesion image


def _not_found_event():
    event = make_event(None, template="get_health.json", content_type=None)
    event.update(path="/admin", resource="/admin")
    return event


# code -> (event, setup): every code the handler can answer with (401/403 are the gateway's).
CASES = {
    "bad_request": (lambda: make_event(imagegen.jpeg((400, 400))[:3000]), None),
    "payload_too_large": (lambda: make_event(b"\xff\xd8\xff\xe0" + b"\0" * 4_500_000), None),
    "unsupported_media_type": (lambda: make_event(imagegen.gif(), content_type="image/gif"), None),
    "image_rejected": (lambda: make_event(imagegen.jpeg((16, 16))), None),
    "not_found": (_not_found_event, None),
    "throttled": (
        lambda: make_event(imagegen.jpeg()),
        lambda a, s, m, t: setattr(s.state, "mode", "throttling"),
    ),
    "model_unavailable": (
        lambda: make_event(imagegen.jpeg()),
        lambda a, s, m, t: setattr(s.state, "mode", "model_error"),
    ),
    "model_timeout": (lambda: make_event(imagegen.jpeg()), lambda a, s, m, t: _setup_model_timeout(a, s, m)),
    "internal_error": (lambda: make_event(imagegen.jpeg()), lambda a, s, m, t: _setup_bug(a, s, m)),
    names.REFUSAL: (lambda: make_event(imagegen.jpeg()), _setup_refusal),
}


def test_every_code_the_handler_answers_with_has_a_case():
    gateway_only = {contract.ERROR_CODES[401], contract.ERROR_CODES[403]}
    assert set(CASES) == set(contract.ALL_ERROR_CODES) - gateway_only


def _run(lambda_app, captured_output, event):
    answer = invoke(lambda_app, event)
    blobs = emf_blobs(captured_output())
    return answer, blobs


def test_a_success_writes_its_outcome_model_version_size_bucket_and_timings(
    lambda_app, sagemaker, captured_output
):
    sagemaker.state.scores = (0.1, 0.9)

    answer, blobs = _run(lambda_app, captured_output, make_event(imagegen.jpeg((640, 480))))
    found = emitted(blobs)

    assert answer.status == 200 and answer.body["label"] == "malignant"
    counts = {(name, tuple(sorted(values.items()))) for name, unit, _, values in found if unit == "Count"}
    assert counts == {
        ("Requests", (("outcome", "malignant"), ("service", SERVICE))),
        (
            "Predictions",
            (("label", "malignant"), ("model_version", METADATA["version"]), ("service", SERVICE)),
        ),
        ("Images", (("service", SERVICE), ("size", "512-1023px"))),
    }
    per_request = {(name, unit) for name, unit, dims, _ in found if dims == ("service",)}
    assert per_request == {
        ("Latency", "Milliseconds"),
        ("EndpointLatency", "Milliseconds"),
        ("ImageBytes", "Bytes"),
        ("EndpointBytes", "Bytes"),
    }
    for blob in blobs:
        assert set(blob) <= ALLOWED_KEYS, set(blob) - ALLOWED_KEYS  # no request id, user or image fields


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_error_code_and_the_refusal_is_counted_once_under_its_code(
    lambda_app, sagemaker, captured_output, monkeypatch, tmp_path, code
):
    make, setup = CASES[code]
    if setup is not None:
        setup(lambda_app, sagemaker, monkeypatch, tmp_path)

    answer, blobs = _run(lambda_app, captured_output, make())
    lambda_app.metadata.forget()
    found = emitted(blobs)

    assert answer.body["error"]["code"] == code
    requests_ = [values for name, _, _, values in found if name == "Requests"]
    assert requests_ == [{"service": SERVICE, "outcome": code}]
    assert not [name for name, *_ in found if name == "Predictions"]  # no label for an error
    assert ("Latency", "Milliseconds", ("service",), {"service": SERVICE}) in found
    for blob in blobs:
        assert set(blob) <= ALLOWED_KEYS


def test_the_trace_is_annotated_with_the_correlation_id_the_client_gets(lambda_app, monkeypatch):
    annotations = []
    monkeypatch.setattr(
        lambda_app.tracer, "put_annotation", lambda key, value: annotations.append((key, value))
    )
    event = make_event(imagegen.jpeg())

    answer = invoke(lambda_app, event)

    assert annotations == [("correlation_id", event["requestContext"]["requestId"])]
    assert answer.headers["x-request-id"] == event["requestContext"]["requestId"]
