"""The predict Lambda's metrics: Powertools Metrics, written as CloudWatch EMF lines on stdout.

One namespace (POWERTOOLS_METRICS_NAMESPACE, else the contract's default) and the
names, units and dimensions of `lesion_contract.metrics`, which the stack's
dashboard and alarms read. Per-request numbers (latencies, bytes) go into the
shared `metrics` set that `@metrics.log_metrics` flushes once per invocation;
counts with a dimension of their own (outcome, size bucket, model version) are
single metrics, so their dimension does not split the request's other numbers.

Nothing here sees image content or who asked: the callers pass sizes, a label,
an error code and the model version, and the only dimensions are those.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

import lesion_contract as contract
from lesion_contract import metrics as names

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or contract.DEFAULT_SERVICE_NAME
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or contract.DEFAULT_METRICS_NAMESPACE
# Powertools shares one metric set between all Metrics objects, so the handler's
# `@metrics.log_metrics` flushes what this module adds, whichever object it decorates with.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def _unit(name: str) -> MetricUnit:
    return MetricUnit(names.UNITS[name])


def _count(name: str, **dimensions: str) -> None:
    """One Count of `name` with its own dimensions (written at once, beside the request's set)."""
    assert tuple(dimensions) == names.DIMENSIONS[name], f"{name} takes {names.DIMENSIONS[name]}"
    with single_metric(
        name=name,
        unit=_unit(name),
        value=1,
        namespace=NAMESPACE,
        default_dimensions={names.DIM_SERVICE: SERVICE},
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def endpoint_latency(milliseconds: float) -> None:
    """The InvokeEndpoint call, successful or not."""
    metrics.add_metric(names.ENDPOINT_LATENCY, _unit(names.ENDPOINT_LATENCY), milliseconds)


def image_received(*, received_bytes: int, endpoint_bytes: int, width: int, height: int) -> None:
    """A decodable upload: its bytes, what goes to the endpoint, and its pixel-size bucket."""
    metrics.add_metric(names.IMAGE_BYTES, _unit(names.IMAGE_BYTES), received_bytes)
    metrics.add_metric(names.ENDPOINT_BYTES, _unit(names.ENDPOINT_BYTES), endpoint_bytes)
    _count(names.IMAGES, size=names.size_bucket(width, height))


def prediction(*, label: str, model_version: str) -> None:
    """An answered /predict, by label and the model version (one per deploy: few values)."""
    _count(names.PREDICTIONS, label=label, model_version=model_version)


def request_done(response: dict[str, Any], *, milliseconds: float) -> str:
    """Count the request by the outcome its response carries; returns that outcome."""
    metrics.add_metric(names.LATENCY, _unit(names.LATENCY), milliseconds)
    outcome = outcome_of(response)
    _count(names.REQUESTS, outcome=outcome)
    return outcome


def outcome_of(response: dict[str, Any]) -> str:
    """The label of a prediction, the error code of an error, else "ok".

    Read from the response the client gets, so the count cannot disagree with
    the answer, whichever handler produced it.
    """
    status = int(response.get("statusCode") or 500)
    try:
        body = json.loads(response.get("body") or "{}")
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status >= 400:
        error = body.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return str(code) if code in _KNOWN_CODES else contract.ERROR_CODES.get(status, "error")
    label = body.get("label")
    return str(label) if label in names.LABELS else names.OUTCOME_OK


# Codes the outcome dimension may take: the contract's, the guard's refusal; nothing a client sends.
_KNOWN_CODES = frozenset(contract.ALL_ERROR_CODES)
