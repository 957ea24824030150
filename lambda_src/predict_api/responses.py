"""The JSON bodies the API answers with (DESIGN.md), built from domain values.

Kept apart from the routes so the shapes live in one place, next to nothing
that can fail: the OpenAPI schemas in openapi.py describe exactly these.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from predict_api.endpoint import Scores
from predict_api.errors import ApiError
from predict_api.metadata import ModelMetadata

# GET /model exposes these metadata.json keys (and nothing else: no paths or account ids).
MODEL_FIELDS = (
    "version",
    "arch",
    "class_names",
    "input_size",
    "threshold",
    "validation_metrics",
    "metrics_by_source",  # per data source, when the training data had several
    "metrics_by_source_split",  # which split those figures come from ("test" or "validation")
    "leave_one_source_out",  # trained without a source, scored on it (when measured)
    "trained_at",
    "dataset",
    "framework",
    "source_revision",
)
_DIGITS = 6


def prediction(scores: Scores, model: ModelMetadata, request_id: str) -> dict[str, Any]:
    """The 200 body of POST /predict. `confidence` is the probability of the returned label."""
    malignant = scores.p_malignant >= model.threshold
    return {
        "label": "malignant" if malignant else "benign",
        "probabilities": {
            "benign": round(scores.p_benign, _DIGITS),
            "malignant": round(scores.p_malignant, _DIGITS),
        },
        "confidence": round(scores.p_malignant if malignant else scores.p_benign, _DIGITS),
        "threshold": model.threshold,
        "model": {"version": model.version, "arch": model.arch},
        "requestId": request_id,
    }


def model_info(model: ModelMetadata, request_id: str, guard: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 200 body of GET /model; `guard` (guard.public) when the model has one."""
    body = {key: model.document[key] for key in MODEL_FIELDS if key in model.document}
    body["threshold"] = model.threshold
    if guard is not None:
        body["guard"] = guard
    return {**body, "requestId": request_id}


def error(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The error response every failure path ends in; `extra` adds fields (the guard's lesionScore)."""
    body = {"error": {"code": code, "message": message}, **(extra or {}), "requestId": request_id}
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers or {},
    )


def api_error(exc: ApiError, request_id: str) -> Response:
    return error(exc.status, exc.code, exc.message, request_id, exc.headers, exc.extra)
