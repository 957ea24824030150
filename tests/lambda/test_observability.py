"""Logs and metrics: structured, correlated, and free of image data and tokens (medical images)."""

from __future__ import annotations

import base64
import json

from . import imagegen
from .conftest import TOKEN, invoke, make_event


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_no_image_bytes_base64_or_token_reach_the_logs(lambda_app, captured_output):
    # GIVEN uploads that succeed, fail validation, and arrive as JSON
    image = imagegen.jpeg((64, 64))
    encoded = base64.b64encode(image).decode()
    events = [
        make_event(image),
        make_event(image[:400]),  # truncated: the error path
        make_event(json.dumps({"image": encoded}), content_type="application/json", base64_encoded=False),
    ]

    answers = [invoke(lambda_app, event) for event in events]
    output = captured_output()

    assert [a.status for a in answers] == [200, 400, 200]
    assert output.strip(), "the handler logged nothing: the test would prove nothing"
    # THEN no slice of the image, its base64, the token or its signature appears anywhere
    for secret in (encoded[:40], encoded[100:140], TOKEN, TOKEN.rsplit(".", 1)[1]):
        assert secret not in output
    assert image[20:60].decode("latin-1") not in output
    assert "Authorization" not in output


def test_logs_are_json_with_the_gateway_request_id_as_correlation_id(lambda_app, captured_output):
    event = make_event(imagegen.jpeg())

    invoke(lambda_app, event)
    records = _records(captured_output())

    [prediction] = [r for r in records if r.get("message") == "prediction"]
    assert prediction["correlation_id"] == event["requestContext"]["requestId"]
    assert "label" not in prediction  # counted by the Predictions metric, never logged (issue 19)
    assert prediction["image"]["format"] == "JPEG"


def test_metrics_cover_latency_payload_size_labels_and_errors(lambda_app, sagemaker, captured_output):
    sagemaker.state.scores = (0.1, 0.9)
    invoke(lambda_app, make_event(imagegen.jpeg()))
    invoke(lambda_app, make_event(imagegen.gif(), content_type="image/gif"))

    blobs = [r for r in _records(captured_output()) if "_aws" in r]
    names = {m["Name"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}

    assert {"Latency", "EndpointLatency", "ImageBytes", "Predictions", "Requests"} <= names
    assert any(b.get("label") == "malignant" and "Predictions" in b for b in blobs)
    assert any(b.get("outcome") == "unsupported_media_type" and "Requests" in b for b in blobs)
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SkinLesionTest" for b in blobs)
