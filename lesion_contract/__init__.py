"""The API's contract: facts the stack, the Lambda, the local stack, the CLI and the tests share.

One home for each: a route, a CORS value, a limit or a time budget is written here
once and imported everywhere else (`import lesion_contract as contract`). Standard
library only, so `stacks/`, the CLI and the local stack import it without the
Lambda's dependencies; `stacks/bundling.py` ships it beside `predict_api` in the
Lambda bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Environment variables the predict Lambda reads (set by the stack and by the local stack).
ENV_ENDPOINT_NAME = "ENDPOINT_NAME"  # required: the SageMaker endpoint to invoke
ENV_ENDPOINT_URL = "SAGEMAKER_RUNTIME_ENDPOINT_URL"  # optional: override (local stack, tests)
# Where the model's metadata.json comes from: s3://…/model.tar.gz, s3://…/metadata.json,
# or a local path to either (local stack). Read once per container and cached.
ENV_MODEL_METADATA_URI = "MODEL_METADATA_URI"
ENV_ALLOWED_ORIGIN = "ALLOWED_ORIGIN"  # CORS origin of the web site ("*" only in the local stack)

# --- Content types.
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/x-image")
JSON_CONTENT_TYPE = "application/json"
# API Gateway binary media types: these request bodies reach the Lambda base64-encoded.
BINARY_MEDIA_TYPES = IMAGE_CONTENT_TYPES
ENDPOINT_CONTENT_TYPE = "application/x-image"  # what the Lambda sends to the endpoint

# --- Size limits.
LAMBDA_EVENT_LIMIT_BYTES = 6 * 1024 * 1024  # Lambda synchronous invoke payload (6 MB)
API_GATEWAY_BODY_LIMIT_BYTES = 10 * 1024 * 1024  # API Gateway REST payload (10 MB)
# The image travels base64-encoded in the event (4/3 inflation) next to headers and the
# request context, so about 4.4 MB of raw image is the most that reaches the handler.
MAX_IMAGE_BYTES = 4_400_000
ENDPOINT_BODY_LIMIT_BYTES = 6 * 1024 * 1024  # SageMaker InvokeEndpoint body

# --- Image bounds the Lambda enforces before paying for inference.
MIN_IMAGE_SIDE_PX = 32  # below this a lesion cannot be classified (the model sees 224 px)
MAX_IMAGE_PIXELS = 50_000_000  # 50 MP: phone cameras stay below; Pillow's bomb guard uses it too
# Larger images are downscaled (longest side) and re-encoded as JPEG before the endpoint call.
ENDPOINT_MAX_SIDE_PX = 1024
ENDPOINT_JPEG_QUALITY = 90

# --- Time budgets (seconds). Each layer gives up before the one in front of it, so a slow model
# gets the handler's 504 JSON, never API Gateway's bare 504 (tests/lambda/test_budget.py sums them).
API_INTEGRATION_TIMEOUT_S = 29  # API Gateway REST default integration timeout
LAMBDA_TIMEOUT_S = 25  # < API_INTEGRATION_TIMEOUT_S
LAMBDA_INIT_LIMIT_S = 10  # Lambda's init phase (module import) on an on-demand function
ENDPOINT_CONNECT_TIMEOUT_S = 2
# The model answers in tens of milliseconds; 8 s absorbs a cold or scaling instance while
# 2 * (2 + 8) s = 20 s leaves the handler HANDLER_WORK_BUDGET_S for decoding before the Lambda timeout.
ENDPOINT_READ_TIMEOUT_S = 8
ENDPOINT_MAX_ATTEMPTS = 2  # total attempts
# botocore's standard retry mode backs off rand(0, 1) * 50 ms after a timeout.
ENDPOINT_RETRY_BACKOFF_S = 0.05
# What the handler does besides waiting on the endpoint: decoding and re-encoding an image of
# up to MAX_IMAGE_PIXELS. Measured on the build machine: a 49 MP WebP took 4.4 s.
HANDLER_WORK_BUDGET_S = 4.5
# metadata.json is read at init (module import), not on the request path: from S3 at most
# METADATA_MAX_ATTEMPTS * (connect + read) seconds, well inside the init phase's limit. Should
# that read fail, a request retries it only with the time its own budget leaves.
METADATA_CONNECT_TIMEOUT_S = 1
METADATA_READ_TIMEOUT_S = 2
METADATA_MAX_ATTEMPTS = 2
# The import of the handler without the metadata read (measured, bench/lambda_package.py: under
# 1 s wall on the shipped bundle), budgeted generously.
LAMBDA_IMPORT_BUDGET_S = 2

# --- Routes: the one declaration the stack, the Lambda's router, the local gateway and the
# OpenAPI document all read.
ROUTE_PREDICT = "/predict"
ROUTE_MODEL = "/model"
ROUTE_HEALTH = "/health"
ROUTE_OPENAPI = "/openapi.json"


@dataclass(frozen=True)
class Route:
    """One resource and method of the API; `public` routes need no token (OPTIONS never does).

    `by_gateway` routes are answered by API Gateway itself (a MOCK integration in the stack,
    the local gateway in the local stack): a flood of them costs no Lambda invocation.
    """

    path: str
    method: str
    public: bool = False
    by_gateway: bool = False


ROUTES = (
    Route(ROUTE_PREDICT, "POST"),
    Route(ROUTE_MODEL, "GET"),
    Route(ROUTE_HEALTH, "GET", public=True, by_gateway=True),
    Route(ROUTE_OPENAPI, "GET", public=True, by_gateway=True),
)
PUBLIC_ROUTES = tuple(route.path for route in ROUTES if route.public)
GATEWAY_ROUTES = tuple(route.path for route in ROUTES if route.by_gateway)
HEALTH_STATUS = "ok"  # GET /health answers {"status": HEALTH_STATUS, "requestId": …}

# --- CORS (the browser's preflight and the answers): API Gateway's preflight in the stack, the
# Lambda's own headers and the local gateway all use these values.
CORS_ALLOW_METHODS = tuple(sorted({route.method for route in ROUTES} | {"OPTIONS"}))
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type")  # what the web page and the CLI send
CORS_MAX_AGE_S = 600  # how long a browser may cache a preflight answer
REQUEST_ID_HEADER = "X-Request-Id"  # the correlation id, on every response of the Lambda
RETRY_AFTER_HEADER = "Retry-After"
CORS_EXPOSE_HEADERS = (REQUEST_ID_HEADER, RETRY_AFTER_HEADER)  # readable by the page

# --- Observability defaults when POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE are unset.
DEFAULT_SERVICE_NAME = "predict-api"
DEFAULT_METRICS_NAMESPACE = "SkinLesion"

# --- Auth: the API takes the Cognito *ID* token (the REST API's Cognito authorizer
# without OAuth scopes validates ID tokens: signature, issuer, expiry, audience = client id).
REQUIRED_TOKEN_USE = "id"

# --- Error codes of DESIGN.md: HTTP status -> code.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "image_rejected",
    429: "throttled",
    500: "internal_error",  # a bug, never bad input; the body carries no details
    503: "model_unavailable",
    504: "model_timeout",
}

# --- The not-a-lesion guard (issue 14). A model whose metadata.json has "guard": {"threshold"}
# also scores how much an image looks like a dermoscopic lesion image; below the threshold
# the API answers 422 with this code and message (and "lesionScore"), never a label.
NOT_A_LESION_CODE = "not_a_skin_lesion"
NOT_A_LESION_MESSAGE = (
    "This does not look like a dermoscopic image of a skin lesion. Expected: a dermoscopic image "
    "of one skin lesion, centred (for example from a phone with a dermatoscope attachment)."
)
# Every error code a body can carry: one per status, plus the guard's second 422.
ALL_ERROR_CODES = (*ERROR_CODES.values(), NOT_A_LESION_CODE)
# The endpoint extension that returns the score (code/inference.py answers it): the Lambda sends
# this CustomAttributes value (header X-Amzn-SageMaker-Custom-Attributes); the Accept value
# selects it too. The answer is {"probabilities": [p_benign, p_malignant], "lesion_score": s}.
GUARD_CUSTOM_ATTRIBUTES = "lesion-score=true"
GUARD_ACCEPT = "application/vnd.skinlesion+json"

# Body API Gateway's gateway responses (DEFAULT_4XX / DEFAULT_5XX / UNAUTHORIZED) return,
# as a mapping template; the local gateway renders the same shape.
GATEWAY_UNAUTHORIZED_MESSAGE = "Sign in again: the token is missing, invalid or expired."
# API Gateway answers a path or method the API lacks with MISSING_AUTHENTICATION_TOKEN (403
# "Missing Authentication Token" by default); the stack's gateway response makes it this 404.
GATEWAY_NOT_FOUND_STATUS = 404
GATEWAY_NOT_FOUND_MESSAGE = "No such route."

# --- The SageMaker TF Serving container's settings on the deployed Model, mirrored by the
# local model server (`skinlesion up`, unless --no-batching): server-side request batching
# merges concurrent requests into one graph run (the container's own defaults for size and
# wait), which raises throughput under load at no cost to a lone request. TF Serving then
# refuses a request of more instances than the batch size (400 "Task size N is larger than
# maximum input batch size 8"), so this is also the documented limit of a JSON batch sent to
# the endpoint. The queue holds the container's default number of batches (one per CPU);
# beyond it TF Serving answers 503 at once ("The batch scheduling queue ... is full").
ENDPOINT_MAX_BATCH_SIZE = 8
ENDPOINT_BATCH_TIMEOUT_MICROS = 1000
ENDPOINT_CONTAINER_ENV = {
    "SAGEMAKER_TFS_ENABLE_BATCHING": "true",
    "SAGEMAKER_TFS_MAX_BATCH_SIZE": str(ENDPOINT_MAX_BATCH_SIZE),
    "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": str(ENDPOINT_BATCH_TIMEOUT_MICROS),
}
