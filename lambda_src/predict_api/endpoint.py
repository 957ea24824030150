"""The SageMaker endpoint call: one client, explicit time bounds, failures mapped to API errors.

The client is built once per container (module scope) with the connect/read
timeouts and the attempt budget of contract.py, so the worst case stays below the
Lambda's timeout, which stays below API Gateway's. The endpoint name comes from
ENDPOINT_NAME, read at import so a misconfigured function fails at init with a
message that says what to set. SAGEMAKER_RUNTIME_ENDPOINT_URL points the client at
another server speaking the SageMaker runtime API (the local stack, the tests).

For a model with a guard the call asks for the lesion score through the endpoint's
documented extension (CustomAttributes `lesion-score=true`); the original answer
`[p_benign, p_malignant]` stays what every other client gets. A `ModelError` that
carries the container's own 4xx is the client's error (400/422), a full batching
queue (503/429 inside it) is 429: neither is the 503 of a failing model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

import lesion_contract as contract
from predict_api.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    ImageRejected,
    ModelTimeout,
    ModelUnavailable,
    Throttled,
)

_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_RETRY_AFTER_S = "1"
# Container statuses inside a ModelError: TF Serving's "queue is full" (503) and a busy model
# (429) are worth a retry; 413/422 mean the image itself cannot be processed.
_BUSY_STATUSES = {429, 503}
_UNPROCESSABLE_STATUSES = {413, 422}


@dataclass(frozen=True)
class Scores:
    """The endpoint's answer for one image."""

    p_benign: float
    p_malignant: float
    lesion_score: float | None = None  # the guard's score, when asked for and the model has one


def endpoint_name() -> str:
    name = os.environ.get(contract.ENV_ENDPOINT_NAME, "").strip()
    if not name:
        raise ConfigurationError(
            f"{contract.ENV_ENDPOINT_NAME} is not set: it must name the SageMaker endpoint to invoke "
            "(the stack and the local stack set it)."
        )
    return name


def make_client(
    endpoint_url: str | None,
    *,
    connect_timeout: float = contract.ENDPOINT_CONNECT_TIMEOUT_S,
    read_timeout: float = contract.ENDPOINT_READ_TIMEOUT_S,
    max_attempts: int = contract.ENDPOINT_MAX_ATTEMPTS,
) -> Any:
    """A sagemaker-runtime client; `max_attempts` counts the first try (standard retry mode)."""
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
    )
    # Outside Lambda (local stack, tests) no region may be set; an override URL needs none.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region is None and endpoint_url:
        region = "us-east-1"
    # botocore without boto3: boto3 adds nothing here but ~100 ms of imports (s3transfer) per cold start.
    session = botocore.session.get_session()
    return session.create_client(
        "sagemaker-runtime", endpoint_url=endpoint_url, region_name=region, config=config
    )


ENDPOINT_NAME = endpoint_name()
_client = make_client(os.environ.get(contract.ENV_ENDPOINT_URL) or None)


def classify(image: bytes, *, lesion_score: bool = False) -> Scores:
    """Invoke the endpoint with the image bytes (and ask for the guard's score if `lesion_score`).

    Raises Throttled, ModelUnavailable, ModelTimeout, or BadRequest / ImageRejected when the
    container itself refused the request.
    """
    extension = {"CustomAttributes": contract.GUARD_CUSTOM_ATTRIBUTES} if lesion_score else {}
    try:
        response = _client.invoke_endpoint(
            EndpointName=ENDPOINT_NAME,
            ContentType=contract.ENDPOINT_CONTENT_TYPE,
            Accept=contract.JSON_CONTENT_TYPE,
            Body=image,
            **extension,
        )
        payload = response["Body"].read()
    except ClientError as exc:
        raise _from_client_error(exc) from exc
    except ReadTimeoutError as exc:
        raise ModelTimeout(
            f"The model did not answer within {contract.ENDPOINT_READ_TIMEOUT_S} s; try again shortly."
        ) from exc
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
        raise ModelUnavailable("The model endpoint cannot be reached; try again later.") from exc
    return parse_scores(payload)


def parse_scores(payload: bytes) -> Scores:
    """`[p_benign, p_malignant]`, the guard extension's `{"probabilities", "lesion_score"}` or
    TF Serving's `{"predictions": [[...]]}` -> Scores."""
    lesion_score: float | None = None
    try:
        value: Any = json.loads(payload)
        if isinstance(value, dict) and "probabilities" in value:
            score = value.get("lesion_score")
            lesion_score = None if score is None else float(score)
            value = value["probabilities"]
        elif isinstance(value, dict):
            value = value["predictions"][0]
        p_benign, p_malignant = (float(p) for p in value)
    except (ValueError, TypeError, KeyError, IndexError):
        raise ModelUnavailable("The model returned an answer this API cannot read.") from None
    if not (0.0 <= p_benign <= 1.0 and 0.0 <= p_malignant <= 1.0):
        raise ModelUnavailable("The model returned probabilities outside [0, 1].")
    if lesion_score is not None and not 0.0 <= lesion_score <= 1.0:  # NaN fails this too
        raise ModelUnavailable("The model returned a lesion score outside [0, 1].")
    return Scores(p_benign=p_benign, p_malignant=p_malignant, lesion_score=lesion_score)


def _from_client_error(exc: ClientError) -> ApiError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(error.get("Message", ""))
    # ModelNotReadyException also arrives as 429, but it means "not loaded", not "busy".
    if code in _THROTTLING_CODES or (status == 429 and code != "ModelNotReadyException"):
        return Throttled(
            "The model endpoint is busy (throttled); retry in a moment.",
            headers={contract.RETRY_AFTER_HEADER: _RETRY_AFTER_S},
        )
    if code == "ValidationError" and "not found" in message.lower():
        return ModelUnavailable("The model endpoint does not exist (yet); it may still be deploying.")
    if code == "ValidationError" and "inservice" in message.lower().replace(" ", ""):
        return ModelUnavailable("The model endpoint is not in service yet; try again in a few minutes.")
    if code == "ModelError":
        return _from_model_error(exc.response.get("OriginalStatusCode"))
    return ModelUnavailable("The model endpoint is unavailable; try again later.")


def _from_model_error(original: Any) -> ApiError:
    """SageMaker's ModelError by the status the container answered (`OriginalStatusCode`)."""
    if not isinstance(original, int):
        original = 500
    if original in _BUSY_STATUSES:
        return Throttled(
            "The model endpoint is busy (its request queue is full); retry in a moment.",
            headers={contract.RETRY_AFTER_HEADER: _RETRY_AFTER_S},
        )
    if original in _UNPROCESSABLE_STATUSES:
        return ImageRejected(
            "The model could not process this image; send a smaller JPEG or PNG of the lesion."
        )
    if 400 <= original < 500:
        return BadRequest("The model could not read this image; send a JPEG or PNG photo of the lesion.")
    return ModelUnavailable("The model failed to process the image; try again later.")
