"""POST /predict end to end: proxy event -> handler -> boto3 -> a real HTTP SageMaker runtime -> JSON."""

from __future__ import annotations

import base64
import json

import pytest

from . import imagegen
from .conftest import METADATA, ORIGIN, invoke, make_event


def test_predict_returns_the_contract_answer_for_a_jpeg(lambda_app, sagemaker):
    # GIVEN the endpoint scores the image 0.4 malignant and the model's threshold is 0.35
    sagemaker.state.scores = (0.6, 0.4)
    event = make_event(imagegen.jpeg())

    answer = invoke(lambda_app, event)

    # THEN the label follows the metadata's threshold, not 0.5
    assert answer.status == 200
    request_id = event["requestContext"]["requestId"]
    assert answer.body == {
        "label": "malignant",
        "probabilities": {"benign": 0.6, "malignant": 0.4},
        "confidence": 0.4,
        "threshold": METADATA["threshold"],
        "model": {"version": METADATA["version"], "arch": METADATA["arch"]},
        "requestId": request_id,
    }
    assert answer.headers["x-request-id"] == request_id
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["access-control-allow-origin"] == ORIGIN


def test_predict_labels_benign_below_the_threshold_with_its_confidence(lambda_app, sagemaker):
    sagemaker.state.scores = (0.9, 0.1)

    answer = invoke(lambda_app, make_event(imagegen.jpeg()))

    assert (answer.body["label"], answer.body["confidence"]) == ("benign", 0.9)


def test_predict_sends_a_small_upright_jpeg_unchanged(lambda_app, sagemaker):
    data = imagegen.jpeg((300, 200))

    assert invoke(lambda_app, make_event(data)).status == 200

    [call] = sagemaker.state.invocations
    assert (call.content_type, call.accept) == ("application/x-image", "application/json")
    assert call.body == data


def test_predict_reencodes_webp_as_jpeg_for_the_model_graph(lambda_app, sagemaker):
    answer = invoke(lambda_app, make_event(imagegen.webp((256, 256)), content_type="image/webp"))

    assert answer.status == 200
    sent = sagemaker.state.invocations[0].body
    assert sent[:3] == b"\xff\xd8\xff"
    assert imagegen.decode(sent).size == (256, 256)


def test_predict_downscales_a_large_photo_before_the_endpoint(lambda_app, sagemaker):
    data = imagegen.jpeg((3000, 2000))

    assert invoke(lambda_app, make_event(data)).status == 200

    sent = imagegen.decode(sagemaker.state.invocations[0].body)
    assert max(sent.size) == 1024
    assert sent.size[0] / sent.size[1] == pytest.approx(1.5, rel=0.01)


def test_predict_applies_exif_orientation(lambda_app, sagemaker):
    # GIVEN a 300x200 photo tagged "rotate 90 CW to display" (EXIF orientation 6)
    data = imagegen.jpeg((300, 200), orientation=6)

    assert invoke(lambda_app, make_event(data)).status == 200

    # THEN the model sees it upright: portrait
    assert imagegen.decode(sagemaker.state.invocations[0].body).size == (200, 300)


def test_predict_accepts_png_and_application_x_image(lambda_app, sagemaker):
    data = imagegen.png((128, 128))

    answer = invoke(lambda_app, make_event(data, content_type="application/x-image"))

    assert answer.status == 200
    assert sagemaker.state.invocations[0].body == data


def test_predict_accepts_json_with_base64_image(lambda_app, sagemaker):
    data = imagegen.jpeg()
    body = json.dumps({"image": base64.b64encode(data).decode()})

    answer = invoke(lambda_app, make_event(body, content_type="application/json", base64_encoded=False))

    assert answer.status == 200
    assert sagemaker.state.invocations[0].body == data


def test_predict_accepts_a_browser_data_url_in_json(lambda_app, sagemaker):
    data = imagegen.png()
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    body = json.dumps({"image": url})

    answer = invoke(
        lambda_app, make_event(body, content_type="application/json; charset=utf-8", base64_encoded=False)
    )

    assert answer.status == 200


def test_request_id_falls_back_to_the_lambda_request_id(lambda_app):
    event = make_event(None, template="get_health.json", content_type=None)
    del event["requestContext"]["requestId"]

    answer = invoke(lambda_app, event)

    assert answer.status == 200
    assert answer.body["requestId"] == answer.headers["x-request-id"]
    assert len(answer.body["requestId"]) == 36  # the fake context's uuid4


def test_model_route_returns_the_metadata(lambda_app):
    event = make_event(None, content_type=None)
    event.update(path="/model", resource="/model", httpMethod="GET")

    answer = invoke(lambda_app, event)

    assert answer.status == 200
    assert answer.body["version"] == METADATA["version"]
    assert answer.body["threshold"] == METADATA["threshold"]
    assert answer.body["validation_metrics"] == METADATA["validation_metrics"]
    assert answer.body["requestId"] == event["requestContext"]["requestId"]


def test_health_and_openapi_answer_without_calling_the_model(lambda_app, sagemaker):
    health = invoke(lambda_app, make_event(None, template="get_health.json", content_type=None))
    spec_event = make_event(None, template="get_health.json", content_type=None)
    spec_event.update(path="/openapi.json", resource="/openapi.json")
    spec = invoke(lambda_app, spec_event)

    assert health.status == 200 and health.body["status"] == "ok"
    assert spec.status == 200 and spec.body["openapi"].startswith("3.")
    assert sagemaker.state.invocations == []


def test_unknown_route_is_a_json_404(lambda_app):
    event = make_event(None, template="get_health.json", content_type=None)
    event.update(path="/admin", resource="/admin")

    answer = invoke(lambda_app, event)

    assert answer.status == 404
    assert answer.body["error"]["code"] == "not_found"
    assert answer.headers["access-control-allow-origin"] == ORIGIN


def test_predict_accepts_json_that_the_gateway_base64_encoded(lambda_app):
    # A stage whose binary media types include */* base64-encodes JSON bodies too.
    body = json.dumps({"image": base64.b64encode(imagegen.jpeg()).decode()})

    answer = invoke(lambda_app, make_event(body, content_type="application/json", base64_encoded=True))

    assert answer.status == 200


def test_other_origins_get_no_cors_grant(lambda_app):
    event = make_event(imagegen.jpeg())
    event["headers"]["Origin"] = event["multiValueHeaders"]["Origin"][0] = "https://evil.example"

    answer = invoke(lambda_app, event)

    assert answer.status == 200
    assert "access-control-allow-origin" not in answer.headers
