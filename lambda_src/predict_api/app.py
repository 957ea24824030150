"""The predict API Lambda (handler `predict_api.app.handler`): routes, error mapping, observability.

Routes stay thin: validation lives in payload.py / images.py, the endpoint call in
endpoint.py, the model's metadata in metadata.py, the answer shapes in
responses.py. Every failure ends in one of the exception handlers below, so a
client always gets `{"error": {"code", "message"}, "requestId"}`; bad input never
yields a 5xx. Logs carry the request id and never the body, image bytes or tokens.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import lesion_contract as contract
from predict_api import endpoint, guard, metadata, openapi, payload, responses, telemetry
from predict_api.errors import ApiError
from predict_api.images import PreparedImage, prepare_image

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or contract.DEFAULT_SERVICE_NAME
ALLOWED_ORIGIN = os.environ.get(contract.ENV_ALLOWED_ORIGIN, "").strip()

# The endpoint call's worst case (all attempts time out) and the margin kept to answer in time.
_ENDPOINT_WORST_S = contract.ENDPOINT_MAX_ATTEMPTS * (
    contract.ENDPOINT_CONNECT_TIMEOUT_S + contract.ENDPOINT_READ_TIMEOUT_S + contract.ENDPOINT_RETRY_BACKOFF_S
)
_ANSWER_MARGIN_S = 0.3
Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = telemetry.metrics  # names, units and dimensions: lesion_contract.metrics
# Without ALLOWED_ORIGIN no browser origin is allowed (fail closed); the stacks always set it.
_cors = (
    CORSConfig(
        allow_origin=ALLOWED_ORIGIN,
        allow_headers=list(contract.CORS_ALLOW_HEADERS),
        expose_headers=list(contract.CORS_EXPOSE_HEADERS),
        max_age=contract.CORS_MAX_AGE_S,
    )
    if ALLOWED_ORIGIN
    else None
)
app = APIGatewayRestResolver(cors=_cors)
# The model's metadata is read now, in the init phase, so no request waits on S3 for it.
metadata.preload()


def _seconds_left() -> float:
    """Seconds until the Lambda times out, less a margin to send the answer."""
    return app.lambda_context.get_remaining_time_in_millis() / 1000 - _ANSWER_MARGIN_S


def request_id() -> str:
    """API Gateway's request id (what its access logs show), else the Lambda invocation's id."""
    return _correlation_id(app.current_event.raw_event, app.lambda_context)


def _correlation_id(event: dict[str, Any], context: LambdaContext) -> str:
    # Read leniently: this also runs in the error handlers, where nothing may raise.
    request_context = event.get("requestContext") or {}
    return str(request_context.get("requestId") or context.aws_request_id)


def _route(path: str) -> Callable[[Handler], Handler]:
    """Register a route as contract.ROUTES declares it (path and method)."""
    (route,) = (route for route in contract.ROUTES if route.path == path)
    return app.route(route.path, method=route.method)


@_route(contract.ROUTE_PREDICT)
def predict() -> dict[str, Any]:
    event = app.current_event
    data = payload.image_bytes(
        content_type=_header("content-type"),
        body=event.body,
        is_base64_encoded=bool(event.is_base64_encoded),
    )
    image = prepare_image(data)
    telemetry.image_received(
        received_bytes=image.received_bytes,
        endpoint_bytes=len(image.body),
        width=image.width,
        height=image.height,
    )
    # Whatever time is left after the endpoint's worst case: none is spent once init read it.
    model = metadata.current(seconds_left=_seconds_left() - _ENDPOINT_WORST_S)
    limit = guard.threshold(model)
    scores = _classify(image, lesion_score=limit is not None)
    guard.check(scores, limit)  # raises NotALesion (422): no label for what is not a lesion image
    answer = responses.prediction(scores, model, request_id())
    _record_prediction(image, answer)
    return answer


def _header(name: str) -> str | None:
    """A request header from either map API Gateway sends, through Powertools' event helper.

    `resolved_headers_field` is `multiValueHeaders` when the event has it, else `headers`
    (both case-insensitive); of a repeated header the last value counts, as in API
    Gateway's single-value map.
    """
    value = app.current_event.resolved_headers_field.get(name)
    if isinstance(value, list):
        return str(value[-1]) if value else None
    return value


@_route(contract.ROUTE_MODEL)
def model_info() -> dict[str, Any]:
    model = metadata.current(seconds_left=_seconds_left())
    return responses.model_info(model, request_id(), guard=guard.public(model))


@_route(contract.ROUTE_HEALTH)
def health() -> dict[str, Any]:
    # Liveness only: probing the endpoint here would bill inference for every health check.
    return {"status": contract.HEALTH_STATUS, "requestId": request_id()}


@_route(contract.ROUTE_OPENAPI)
def openapi_document() -> dict[str, Any]:
    return openapi.document()


@tracer.capture_method(capture_response=False)
def _classify(image: PreparedImage, *, lesion_score: bool) -> endpoint.Scores:
    started = time.perf_counter()
    try:
        if lesion_score:
            return endpoint.classify(image.body, lesion_score=True)
        return endpoint.classify(image.body)  # a model without a guard: exactly the original call
    finally:
        telemetry.endpoint_latency((time.perf_counter() - started) * 1000)


def _record_prediction(image: PreparedImage, answer: dict[str, Any]) -> None:
    # The label is counted (a metric without the request id), never logged: a log line with the
    # request id, label and score would let a log reader rebuild who was told what.
    telemetry.prediction(label=answer["label"], model_version=answer["model"]["version"])
    logger.info(
        "prediction",
        extra={
            "model_version": answer["model"]["version"],
            "image": {
                "format": image.source_format,
                "width": image.width,
                "height": image.height,
                "bytes": image.received_bytes,
                "reencoded": image.reencoded,
            },
        },
    )


@app.exception_handler(ApiError)
def _api_error(exc: ApiError) -> Response:
    logger.warning("request refused", extra={"status": exc.status, "code": exc.code, "reason": exc.message})
    return responses.api_error(exc, request_id())


@app.exception_handler(Exception)
def _unexpected_error(exc: Exception) -> Response:
    # A bug, not bad input: the traceback goes to the log, nothing of it to the client.
    logger.exception("unexpected error")
    code = contract.ERROR_CODES[500]
    message = "An internal error occurred; quote the requestId when reporting it."
    return responses.error(500, code, message, request_id())


@app.not_found
def _not_found(exc: NotFoundError) -> Response:
    event = app.current_event
    message = f"No route {event.http_method} {event.path[:100]}; see {contract.ROUTE_OPENAPI}."
    return responses.error(404, contract.ERROR_CODES[404], message, request_id())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point: resolve the route, count its outcome, stamp the correlation id."""
    started = time.perf_counter()
    correlation_id = _correlation_id(event, context)
    tracer.put_annotation(key="correlation_id", value=correlation_id)  # find the trace by requestId
    response = app.resolve(event, context)
    telemetry.request_done(response, milliseconds=(time.perf_counter() - started) * 1000)
    response.setdefault("multiValueHeaders", {})[contract.REQUEST_ID_HEADER] = [correlation_id]
    return response
