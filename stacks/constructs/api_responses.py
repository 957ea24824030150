"""API Gateway gateway responses and access-log format: JSON errors with CORS, per DESIGN.md."""

from __future__ import annotations

import json

from aws_cdk import Fn
from aws_cdk import aws_apigateway as apigw

import lesion_contract as contract

# Gateway-generated errors in the API's error schema. $context.error.messageString is
# already a quoted JSON string; $context.requestId matches the Lambda's requestId.
_GATEWAY_ERRORS: tuple[tuple[apigw.ResponseType, str | None, str, str | None], ...] = (
    (apigw.ResponseType.UNAUTHORIZED, None, "unauthorized", contract.GATEWAY_UNAUTHORIZED_MESSAGE),
    (apigw.ResponseType.ACCESS_DENIED, None, contract.ERROR_CODES[403], None),
    (apigw.ResponseType.THROTTLED, None, contract.ERROR_CODES[429], None),
    (apigw.ResponseType.REQUEST_TOO_LARGE, None, contract.ERROR_CODES[413], None),
    (apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, None, contract.ERROR_CODES[415], None),
    # An unknown route comes back as 403 "Missing Authentication Token"; say what it is.
    (
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
        str(contract.GATEWAY_NOT_FOUND_STATUS),
        contract.ERROR_CODES[contract.GATEWAY_NOT_FOUND_STATUS],
        contract.GATEWAY_NOT_FOUND_MESSAGE,
    ),
    (apigw.ResponseType.DEFAULT_4_XX, None, contract.ERROR_CODES[400], None),
    (apigw.ResponseType.DEFAULT_5_XX, None, "gateway_error", None),
)


def error_body(code: str, message: str | None) -> str:
    """The mapping template for one gateway response."""
    message_json = json.dumps(message) if message is not None else "$context.error.messageString"
    body = {"error": {"code": code, "message": "@MESSAGE@"}, "requestId": "$context.requestId"}
    return json.dumps(body).replace('"@MESSAGE@"', message_json)


def add_gateway_responses(api: apigw.RestApi, allowed_origin: str) -> None:
    """CORS headers on every gateway error, so the browser can read a 401 and sign in again."""
    headers = {
        "Access-Control-Allow-Origin": Fn.join("", ["'", allowed_origin, "'"]),
        "Access-Control-Allow-Headers": "'" + ",".join(contract.CORS_ALLOW_HEADERS) + "'",
        "Vary": "'Origin'",
    }
    for response_type, status, code, message in _GATEWAY_ERRORS:
        api.add_gateway_response(
            f"Gateway{response_type.response_type}",
            type=response_type,
            status_code=status,
            response_headers=headers,
            templates={contract.JSON_CONTENT_TYPE: error_body(code, message)},
        )


def json_access_log_format(*, identity: bool = False) -> apigw.AccessLogFormat:
    """One JSON object per request, never the token.

    Who asked (the Cognito `sub`) and from where (the source IP) only with `identity`
    (`-c accessLogIdentity=true`): with them, a log reader could tie a request to a person.
    """
    fields = {
        "requestId": "$context.requestId",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "length": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "error": "$context.error.message",
    }
    if identity:
        fields |= {"ip": "$context.identity.sourceIp", "user": "$context.authorizer.claims.sub"}
    return apigw.AccessLogFormat.custom(json.dumps(fields))
