"""The predict Lambda's CloudWatch metrics: names, units and dimensions. One home for each.

`lambda_src/predict_api/telemetry.py` writes them (Powertools Metrics, EMF on
stdout); `stacks/constructs/monitoring.py` reads them for the dashboard and the
alarms; the tests read both sides from here. Dimensions stay few and small: no
image content, no user id, no request id ever becomes a metric or a dimension.
Standard library only.
"""

from __future__ import annotations

from lesion_contract import NOT_A_LESION_CODE

# Powertools adds this dimension (the service name) to every metric it writes.
DIM_SERVICE = "service"
DIM_OUTCOME = "outcome"
DIM_LABEL = "label"
DIM_SIZE = "size"
DIM_MODEL_VERSION = "model_version"

# name -> (unit as CloudWatch spells it, dimensions besides `service`).
REQUESTS = "Requests"  # one per request, by outcome: a label, an error code, or "ok"
PREDICTIONS = "Predictions"  # one per answered /predict, by label and the model version the Lambda serves
LATENCY = "Latency"  # the handler's own time
ENDPOINT_LATENCY = "EndpointLatency"  # the InvokeEndpoint call as the Lambda sees it (incl. retries)
IMAGE_BYTES = "ImageBytes"  # the upload's size
ENDPOINT_BYTES = "EndpointBytes"  # what was sent to the endpoint (after any downscale)
IMAGES = "Images"  # one per decodable upload, by pixel-size bucket (longest side)

UNITS = {
    REQUESTS: "Count",
    PREDICTIONS: "Count",
    LATENCY: "Milliseconds",
    ENDPOINT_LATENCY: "Milliseconds",
    IMAGE_BYTES: "Bytes",
    ENDPOINT_BYTES: "Bytes",
    IMAGES: "Count",
}
DIMENSIONS: dict[str, tuple[str, ...]] = {
    REQUESTS: (DIM_OUTCOME,),
    PREDICTIONS: (DIM_LABEL, DIM_MODEL_VERSION),
    LATENCY: (),
    ENDPOINT_LATENCY: (),
    IMAGE_BYTES: (),
    ENDPOINT_BYTES: (),
    IMAGES: (DIM_SIZE,),
}

# Outcomes of REQUESTS besides the error codes of the contract (ALL_ERROR_CODES, incl. the guard's).
LABELS = ("benign", "malignant")
REFUSAL = NOT_A_LESION_CODE  # the guard's 422: not a dermoscopic lesion image
OUTCOME_OK = "ok"  # a successful request that is not a prediction (GET /model, /health, /openapi.json)

# Pixel-size buckets by the upload's longest side: (exclusive upper bound or None, dimension value).
# 224 px is what the model sees; 1024 px is where the Lambda starts to downscale.
SIZE_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (224, "under-224px"),
    (512, "224-511px"),
    (1024, "512-1023px"),
    (2048, "1024-2047px"),
    (4096, "2048-4095px"),
    (None, "4096px-plus"),
)


def size_bucket(width: int, height: int) -> str:
    """The SIZE_BUCKETS value for an image of `width` x `height` pixels."""
    side = max(width, height)
    for bound, name in SIZE_BUCKETS:
        if bound is None or side < bound:
            return name
    raise AssertionError("the last bucket has no bound")  # unreachable
