"""The OpenAPI document stays true: valid, committed as generated, and matching the real answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from predict_api import openapi

import lesion_contract as contract

from . import imagegen
from .conftest import invoke, make_event

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_document_is_valid_openapi_3():
    validate(openapi.document())


def test_committed_docs_openapi_json_is_what_the_code_generates():
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.json is stale: run `python -m predict_api.openapi --write docs/openapi.json`"
    )


def test_every_route_the_resolver_serves_is_documented(lambda_app):
    resolver = lambda_app.app
    routes = [*resolver._static_routes, *resolver._dynamic_routes]
    served = {(route.method.lower(), route.path) for route in routes if route.method != "OPTIONS"}
    assert served == {(route.method.lower(), route.path) for route in contract.ROUTES}
    assert set(openapi.document()["paths"]) == {route.path for route in contract.ROUTES}


def test_predict_documents_every_status_the_handler_can_answer():
    responses = openapi.document()["paths"][contract.ROUTE_PREDICT]["post"]["responses"]
    expected = {200, 400, 401, 413, 415, 422, 429, 500, 503, 504}
    assert {int(status) for status in responses} == expected
    content = openapi.document()["paths"][contract.ROUTE_PREDICT]["post"]["requestBody"]["content"]
    assert set(content) == {*contract.IMAGE_CONTENT_TYPES, contract.JSON_CONTENT_TYPE}


def test_public_routes_need_no_token_and_the_rest_need_the_bearer_token():
    document = openapi.document()
    assert document["components"]["securitySchemes"]["cognito"] == {
        **document["components"]["securitySchemes"]["cognito"],
        "type": "http",
        "scheme": "bearer",
    }
    for route in contract.ROUTES:
        security = document["paths"][route.path][route.method.lower()]["security"]
        assert security == ([] if route.public else [{"cognito": []}])


def _schema(name: str) -> OAS30Validator:
    document = openapi.document()
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


@pytest.mark.parametrize(
    ("event_args", "schema"),
    [
        ({"body": "jpeg"}, "Prediction"),
        ({"body": "gif"}, "Error"),
        ({"body": None, "template": "get_health.json", "content_type": None}, "Health"),
    ],
)
def test_real_answers_validate_against_the_documented_schemas(lambda_app, event_args, schema):
    bodies = {"jpeg": imagegen.jpeg(), "gif": imagegen.gif(), None: None}
    args = {**event_args, "body": bodies[event_args["body"]]}

    answer = invoke(lambda_app, make_event(**args))

    _schema(schema).validate(answer.body)


def test_model_answer_validates_against_its_schema(lambda_app):
    event = make_event(None, content_type=None)
    event.update(path="/model", resource="/model", httpMethod="GET")

    _schema("ModelInfo").validate(invoke(lambda_app, event).body)


def test_served_document_equals_the_committed_one(lambda_app):
    event = make_event(None, template="get_health.json", content_type=None)
    event.update(path="/openapi.json", resource="/openapi.json")

    assert invoke(lambda_app, event).body == json.loads(COMMITTED.read_text(encoding="utf-8"))
