"""The not-a-lesion guard, API side: the threshold from the model's metadata, and the refusal.

A model with a guard has `"guard": {"threshold": t, ...}` in its metadata.json and
answers the endpoint extension with a `lesion_score` in [0, 1] (high = looks like a
dermoscopic image of a lesion). An image scored below `t` is refused with 422
`not_a_skin_lesion`; a model without a guard, or an endpoint that answers no score,
classifies every valid image as before. A guard whose threshold is unreadable is a
broken model (503), never a silent pass.
"""

from __future__ import annotations

from typing import Any

from predict_api.endpoint import Scores
from predict_api.errors import NotALesion
from predict_api.metadata import MetadataError, ModelMetadata

# GET /model shows these keys of metadata.json["guard"] (its feature layer and fit sizes stay inside);
# "parts" names what it refuses, "clinical" the clinical part's source, licence and attribution.
PUBLIC_FIELDS = ("output", "threshold", "method", "threshold_rule", "validation", "parts", "clinical")


def threshold(model: ModelMetadata) -> float | None:
    """The guard's threshold, None for a model without a guard; MetadataError when unreadable."""
    guard = model.document.get("guard")
    if guard is None:
        return None
    value = guard.get("threshold") if isinstance(guard, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise MetadataError("The model metadata's guard has no valid threshold (a number in [0, 1]).")
    return float(value)


def check(scores: Scores, limit: float | None) -> None:
    """Raise NotALesion when the model's guard scored the image below `limit`."""
    if limit is not None and scores.lesion_score is not None and scores.lesion_score < limit:
        raise NotALesion(scores.lesion_score)


def public(model: ModelMetadata) -> dict[str, Any] | None:
    """The guard as GET /model shows it (None without a guard)."""
    limit = threshold(model)
    if limit is None:
        return None
    guard = model.document["guard"]
    return {**{key: guard[key] for key in PUBLIC_FIELDS if key in guard}, "threshold": limit}
