"""The API's domain errors: each one knows its HTTP status and its contract error code.

Raised anywhere in the package and turned into the JSON error body in one place
(`app.py`'s exception handler). Messages go to the client as they are, so they
say what was wrong and what to do, and never echo the request's content.
"""

from __future__ import annotations

from typing import Any

import lesion_contract as contract


class ApiError(Exception):
    """An error the client gets as `{"error": {"code", "message"}, "requestId"}`."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    @property
    def code(self) -> str:
        return contract.ERROR_CODES[self.status]

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the body carries beside "error" and "requestId" (none for most errors)."""
        return {}


class BadRequest(ApiError):
    """Empty, undecodable or not an image (400)."""

    status = 400


class PayloadTooLarge(ApiError):
    """The image exceeds contract.MAX_IMAGE_BYTES (413)."""

    status = 413


class UnsupportedMediaType(ApiError):
    """The declared Content-Type is not one the API takes (415)."""

    status = 415


class ImageRejected(ApiError):
    """A real image the model cannot classify: too small or too many pixels (422)."""

    status = 422


class NotALesion(ApiError):
    """The model's guard scored the image below its threshold: not a dermoscopic lesion image (422).

    The body adds `lesionScore`; no label or probabilities are given for such an image.
    """

    status = 422

    def __init__(self, lesion_score: float) -> None:
        super().__init__(contract.NOT_A_LESION_MESSAGE)
        self.lesion_score = lesion_score

    @property
    def code(self) -> str:
        return contract.NOT_A_LESION_CODE

    @property
    def extra(self) -> dict[str, Any]:
        return {"lesionScore": round(self.lesion_score, 6)}


class Throttled(ApiError):
    """The endpoint (or SageMaker) throttled the call; the client should retry later (429)."""

    status = 429


class ModelUnavailable(ApiError):
    """The endpoint is missing, not InService, failing, or its metadata is unreadable (503)."""

    status = 503


class ModelTimeout(ApiError):
    """The endpoint did not answer within the read timeout (504)."""

    status = 504


class ConfigurationError(RuntimeError):
    """The Lambda's environment is incomplete: a deployment bug, raised at import time."""
