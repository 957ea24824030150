"""The REST API: binary images, Cognito on every non-public method, CORS on errors, timeouts."""

from __future__ import annotations

import json
from typing import Any

import lesion_contract as contract

from .helpers import one, resources


def _paths(template: Any) -> dict[str, str]:
    """Resource logical id -> its path part."""
    return {
        key: r["Properties"]["PathPart"]
        for key, r in resources(template, "AWS::ApiGateway::Resource").items()
    }


def _methods(template: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, HTTP method, properties) of every method."""
    parts = _paths(template)
    found = []
    for method in resources(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        ref = props["ResourceId"]
        path = "/" + parts[ref["Ref"]] if "Ref" in ref else "/"
        found.append((path, props["HttpMethod"], props))
    return found


def test_binary_media_types_are_the_contract_image_types(template: Any) -> None:
    api = one(template, "AWS::ApiGateway::RestApi")
    assert api["Properties"]["BinaryMediaTypes"] == list(contract.BINARY_MEDIA_TYPES)
    assert {"application/x-image", "image/jpeg", "image/png", "image/webp"} <= set(
        contract.BINARY_MEDIA_TYPES
    )


def _lambda_backed(template: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """The methods API Gateway sends to the Lambda (the public ones it answers itself: MOCK)."""
    return [m for m in _methods(template) if m[1] != "OPTIONS" and m[0] not in contract.GATEWAY_ROUTES]


def test_the_four_routes_exist_and_the_private_ones_proxy_to_the_one_lambda(template: Any) -> None:
    routes = {(path, verb) for path, verb, _ in _methods(template) if verb != "OPTIONS"}
    assert routes == {("/predict", "POST"), ("/model", "GET"), ("/health", "GET"), ("/openapi.json", "GET")}
    targets = {json.dumps(p["Integration"]["Uri"]) for _, _, p in _lambda_backed(template)}
    assert len(targets) == 1
    assert {(path, verb) for path, verb, _ in _lambda_backed(template)} == {
        ("/predict", "POST"),
        ("/model", "GET"),
    }
    for _, _, props in _lambda_backed(template):
        assert props["Integration"]["Type"] == "AWS_PROXY"


def test_cognito_guards_every_method_except_options_health_and_openapi(template: Any) -> None:
    for path, verb, props in _methods(template):
        public = verb == "OPTIONS" or path in contract.PUBLIC_ROUTES
        if public:
            assert props["AuthorizationType"] == "NONE", (path, verb)
        else:
            assert props["AuthorizationType"] == "COGNITO_USER_POOLS", (path, verb)
            assert "AuthorizerId" in props
    authorizer = one(template, "AWS::ApiGateway::Authorizer")["Properties"]
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"


def test_preflight_allows_only_the_site_origin(template: Any) -> None:
    options = [p for _, verb, p in _methods(template) if verb == "OPTIONS"]
    assert options
    for props in options:
        headers = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        origin = json.dumps(headers["method.response.header.Access-Control-Allow-Origin"])
        assert "WebsiteDistribution" in origin and "*" not in origin


def test_gateway_errors_carry_cors_headers_and_the_json_error_schema(template: Any) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED"} <= set(responses)
    for kind, props in responses.items():
        origin = json.dumps(props["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"])
        assert "WebsiteDistribution" in origin, kind
        body = props["ResponseTemplates"]["application/json"]
        assert '"requestId": "$context.requestId"' in body
    unauthorized = json.loads(responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"])
    assert unauthorized["error"] == {"code": "unauthorized", "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE}


def test_stage_throttles_logs_json_and_traces(template: Any) -> None:
    stage = one(template, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["TracingEnabled"] is True
    settings = stage["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (10, 20)
    assert settings["DataTraceEnabled"] is False  # never log request bodies (images)
    log_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert log_format["requestId"] == "$context.requestId"


def test_lambda_gives_up_before_the_api_gateway_integration(template: Any) -> None:
    function = _predict_function(template)
    timeouts = {p["Integration"]["TimeoutInMillis"] for _, _, p in _lambda_backed(template)}
    assert timeouts == {contract.API_INTEGRATION_TIMEOUT_S * 1000}
    assert function["Timeout"] * 1000 < min(timeouts)


def test_lambda_runs_the_handler_on_python_312_with_the_contract_env(template: Any) -> None:
    function = _predict_function(template)
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "predict_api.app.handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    env = function["Environment"]["Variables"]
    assert {contract.ENV_ENDPOINT_NAME, contract.ENV_MODEL_METADATA_URI, contract.ENV_ALLOWED_ORIGIN} <= set(
        env
    )
    assert "model.tar.gz" in json.dumps(env[contract.ENV_MODEL_METADATA_URI])


def test_lambda_may_invoke_this_endpoint_only_and_read_only_the_model_object(template: Any) -> None:
    endpoint_id = next(iter(resources(template, "AWS::SageMaker::Endpoint")))
    statements = _policy_statements(template, "ApiFunctionServiceRole")
    invoke = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert [s["Resource"] for s in invoke] == [{"Ref": endpoint_id}]
    reads = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert len(reads) == 1
    assert json.dumps(reads[0]["Resource"]).endswith('/model.tar.gz"]]}')


def _predict_function(template: Any) -> dict[str, Any]:
    found = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "predict_api.app.handler"
    ]
    assert len(found) == 1
    return found[0]


def _policy_statements(template: Any, role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if role_prefix in roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_preflight_answers_the_contracts_cors_values(template: Any) -> None:
    # The local gateway's preflight reads the same values (tests/local/test_gateway.py).
    expected = {
        "Access-Control-Allow-Methods": ",".join(contract.CORS_ALLOW_METHODS),
        "Access-Control-Allow-Headers": ",".join(contract.CORS_ALLOW_HEADERS),
        "Access-Control-Max-Age": str(contract.CORS_MAX_AGE_S),
    }
    for _, verb, props in _methods(template):
        if verb != "OPTIONS":
            continue
        headers = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        got = {name: headers[f"method.response.header.{name}"].strip("'") for name in expected}
        assert got == expected
