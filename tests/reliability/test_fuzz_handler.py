"""Fuzzing the whole predict handler with arbitrary API Gateway REST proxy events.

GIVEN an event with arbitrary headers, content types, bodies (text or base64, image-like or
not), methods and paths, and the endpoint replaced by an in-memory fake (no network),
THEN the handler returns a proxy response with a JSON body and a status below 500, and the
response carries the correlation id header. An unhandled exception would surface as a 500
from the Lambda's catch-all handler, or as a raise out of `handler`: both fail here.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from types import SimpleNamespace

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lesion_contract as contract

from . import images as gen
from .test_fuzz import CONTENT_TYPES, mutated_images

ROUTES = tuple(route.path for route in contract.ROUTES)
CONTEXT = SimpleNamespace(
    function_name="predict-api-fuzz",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:predict-api-fuzz",
    aws_request_id="fuzz-request",
    get_remaining_time_in_millis=lambda: 25_000,  # a fresh invocation of the stack's 25 s function
)


def _fake_classify(endpoint):
    """The endpoint's answer, with a passing guard score when the handler asks for one."""

    def classify(body: bytes, *, lesion_score: bool = False):
        return endpoint.Scores(p_benign=0.3, p_malignant=0.7, lesion_score=0.99 if lesion_score else None)

    return classify


@pytest.fixture(scope="module")
def handler_module(tmp_path_factory: pytest.TempPathFactory):
    """predict_api.app with a local metadata.json and the endpoint call faked."""
    meta = tmp_path_factory.mktemp("model") / "metadata.json"
    meta.write_text(json.dumps({"version": "fuzz-1", "arch": "fake", "threshold": 0.5}))
    patch = pytest.MonkeyPatch()
    patch.setenv(contract.ENV_ENDPOINT_NAME, "fuzz-endpoint")
    patch.setenv(contract.ENV_MODEL_METADATA_URI, str(meta))
    # Never contacted (classify is faked below); set so the module-scope client builds offline.
    patch.setenv(contract.ENV_ENDPOINT_URL, "http://127.0.0.1:9")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Fuzz")
    loaded_before = {name for name in sys.modules if name.startswith("predict_api")}
    app = importlib.import_module("predict_api.app")
    endpoint = importlib.import_module("predict_api.endpoint")
    metadata = importlib.import_module("predict_api.metadata")
    # Whichever env the module was first imported with, these make the test self-contained.
    # (`current` too: the Lambda keeps what it read at init, which may be another test's model.)
    patch.setattr(metadata, "load", lambda: metadata.parse(json.loads(meta.read_text())))
    patch.setattr(metadata, "current", lambda **_: metadata.load())
    patch.setattr(endpoint, "classify", _fake_classify(endpoint))
    yield app
    patch.undo()
    # Modules first imported here carry this test's env (a dead endpoint URL): forget them, so
    # a later test importing predict_api.app gets a copy built from its own environment.
    for name in [n for n in sys.modules if n.startswith("predict_api") and n not in loaded_before]:
        del sys.modules[name]
        # `from predict_api import x` prefers the package attribute: drop it too, or the copy leaks.
        parent, _, child = name.rpartition(".")
        if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
            delattr(sys.modules[parent], child)


HEADER_NAMES = st.sampled_from(("Content-Type", "content-type", "Authorization", "Origin", "X-Forwarded-For"))
HEADERS = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(HEADER_NAMES, st.text(min_size=1, max_size=20)), st.text(max_size=60), max_size=6
    ),
)
IMAGE_B64 = st.one_of(mutated_images(), st.just(gen.jpeg((48, 48)))).map(
    lambda b: base64.b64encode(b).decode()
)
TEXT_BODY = st.text(max_size=300)
# Weighted towards POST /predict, where the parsing and decoding are.
VALID = (("POST", contract.ROUTE_PREDICT),) * 8 + tuple(("GET", r) for r in ROUTES[1:])
ANY_METHOD = st.sampled_from(("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
ANY_PATH = st.one_of(st.sampled_from(ROUTES), st.text(max_size=40).map(lambda t: "/" + t))
ROUTE = st.one_of(st.sampled_from(VALID), st.sampled_from(VALID), st.tuples(ANY_METHOD, ANY_PATH))
IMAGE_TYPES = st.sampled_from(contract.IMAGE_CONTENT_TYPES)
EVENT_CONTENT_TYPES = st.one_of(IMAGE_TYPES, IMAGE_TYPES, CONTENT_TYPES)
METHODS = st.sampled_from(("POST",) * 6 + ("GET", "PUT", "DELETE", "OPTIONS", "PATCH"))


@st.composite
def events(draw: st.DrawFn) -> dict:
    headers = draw(HEADERS)
    content_type = draw(EVENT_CONTENT_TYPES)
    if content_type is not None:
        headers = {**(headers or {}), "Content-Type": content_type}
    is_base64 = draw(st.booleans())
    body = draw(st.none() | TEXT_BODY | IMAGE_B64 if is_base64 else TEXT_BODY)
    method, path = draw(ROUTE)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": draw(st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8))),
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": draw(st.text(min_size=1, max_size=36)),
            "stage": "prod",
            "httpMethod": "POST",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": {"sub": "fuzz", "token_use": "id"}},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_handler_never_answers_5xx_to_any_event(handler_module, event: dict) -> None:
    response = handler_module.handler(event, CONTEXT)
    hypothesis.event(f"status {response['statusCode']}")
    assert response["statusCode"] < 500, (response["statusCode"], response.get("body"))
    body = json.loads(response["body"]) if response.get("body") else {}
    if response["statusCode"] >= 400:
        assert body["error"]["code"] == contract.ERROR_CODES[response["statusCode"]]
    headers = {k.lower() for k in {**response.get("headers", {}), **response.get("multiValueHeaders", {})}}
    assert contract.REQUEST_ID_HEADER.lower() in headers


def test_handler_fuzz_reaches_a_prediction(handler_module) -> None:
    # Guards the fuzzer: the same event shape with a good image must reach the (fake) model.
    event = {
        "resource": "/predict",
        "path": contract.ROUTE_PREDICT,
        "httpMethod": "POST",
        "headers": {"Content-Type": "image/jpeg"},
        "multiValueHeaders": {"Content-Type": ["image/jpeg"]},
        "requestContext": {"requestId": "guard", "stage": "prod"},
        "body": base64.b64encode(gen.jpeg((48, 48))).decode(),
        "isBase64Encoded": True,
    }
    response = handler_module.handler(event, CONTEXT)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["label"] == "malignant"
