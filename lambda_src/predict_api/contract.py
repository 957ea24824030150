"""Facts the Lambda, the stack, the local stack and the tests share. One home for each.

Nothing here imports anything beyond the standard library, so `stacks/` and the
local stack can import it without pulling in the Lambda's dependencies.
"""

from __future__ import annotations

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

# --- Timeouts (seconds). Each layer gives up before the one in front of it.
API_INTEGRATION_TIMEOUT_S = 29  # API Gateway REST default integration timeout
LAMBDA_TIMEOUT_S = 25  # < API_INTEGRATION_TIMEOUT_S
ENDPOINT_CONNECT_TIMEOUT_S = 2
# The model answers in tens of milliseconds; 8 s absorbs a cold or scaling instance while
# 2 * (2 + 8) s = 20 s leaves the handler ~5 s for decoding a large image before the Lambda
# timeout, so a slow endpoint gets the documented 504 JSON, never API Gateway's bare 502.
ENDPOINT_READ_TIMEOUT_S = 8
ENDPOINT_MAX_ATTEMPTS = 2  # total attempts
METADATA_READ_TIMEOUT_S = 5  # reading metadata.json from S3, once per container

# --- Routes.
ROUTE_PREDICT = "/predict"
ROUTE_MODEL = "/model"
ROUTE_HEALTH = "/health"
ROUTE_OPENAPI = "/openapi.json"
PUBLIC_ROUTES = (ROUTE_HEALTH, ROUTE_OPENAPI)  # no token needed (and OPTIONS everywhere)
REQUEST_ID_HEADER = "X-Request-Id"  # the correlation id, on every response of the Lambda

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
# wait), which raises throughput under load at no cost to a lone request.
ENDPOINT_CONTAINER_ENV = {
    "SAGEMAKER_TFS_ENABLE_BATCHING": "true",
    "SAGEMAKER_TFS_MAX_BATCH_SIZE": "8",
    "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": "1000",
}
