"""The not-a-lesion guard through the handler: the model's lesion score against its metadata's threshold.

The fake SageMaker runtime answers the guard extension as the artifact's inference.py
does (`CustomAttributes: lesion-score=true` -> `{"probabilities", "lesion_score"}`);
the threshold comes from the served model's metadata.json (`guard.threshold`).
"""

from __future__ import annotations

import json

import pytest
from openapi_schema_validator import OAS30Validator

from . import imagegen
from .conftest import METADATA, invoke, make_event

THRESHOLD = 0.42
GUARD = {
    "output": "lesion_score",
    "threshold": THRESHOLD,
    "method": "mahalanobis-pooled-features",
    "threshold_rule": "quantile 0.005 of validation lesion scores",
    "validation": {"n": 340, "lesion_refusal_rate": 0.006},
    "feature_layer": "pooled_features",
    "fitted_on": {"n_train": 1360},
    "parts": ["photo", "quality", "clinical"],
    "clinical": {
        "source": "clinical-skin: DermNet NZ (CC BY-NC-ND 3.0 NZ, attribution: DermNet)",
        "half": "A",
    },
}
BY_SOURCE = {"isic-2017": {"roc_auc": 0.81, "n": 150}, "isic-dev": {"roc_auc": 0.86, "n": 400}}
LEAVE_ONE_OUT = [{"held_out": "isic-2017", "roc_auc": 0.74}]
REFUSAL = (
    "This does not look like a dermoscopic image of a skin lesion. Expected: a dermoscopic image of "
    "one skin lesion, centred (for example from a phone with a dermatoscope attachment)."
)


@pytest.fixture
def guarded(lambda_app, tmp_path, monkeypatch):
    """The served model has a guard (and per-source figures) in its metadata.json."""
    path = tmp_path / "metadata.json"
    document = {
        **METADATA,
        "guard": GUARD,
        "metrics_by_source": BY_SOURCE,
        "metrics_by_source_split": "test",
        "leave_one_source_out": LEAVE_ONE_OUT,
    }
    path.write_text(json.dumps(document))
    monkeypatch.setenv("MODEL_METADATA_URI", str(path))
    lambda_app.metadata.forget()
    yield lambda_app
    lambda_app.metadata.forget()


def _predict(app):
    return invoke(app, make_event(imagegen.jpeg()))


def _schema(app, name: str) -> OAS30Validator:
    components = app.openapi.document()["components"]
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def test_image_the_guard_scores_below_the_threshold_is_422_not_a_skin_lesion(guarded, sagemaker):
    # GIVEN a model whose guard scores the image 0.0731 (threshold 0.42)
    sagemaker.state.lesion_score = 0.0731

    answer = _predict(guarded)

    # THEN the client gets the refusal, with the score and the request id, and no label
    assert answer.status == 422, answer.body
    assert answer.body == {
        "error": {"code": "not_a_skin_lesion", "message": REFUSAL},
        "lesionScore": 0.0731,
        "requestId": answer.headers["x-request-id"],
    }
    _schema(guarded, "NotALesion").validate(answer.body)
    _schema(guarded, "Error").validate(answer.body)


def test_the_lambda_asks_for_the_score_through_the_documented_extension(guarded, sagemaker):
    _predict(guarded)

    [call] = sagemaker.state.invocations
    assert call.custom_attributes == "lesion-score=true"
    # the original contract is otherwise unchanged: one image in, JSON out
    assert (call.content_type, call.accept) == ("application/x-image", "application/json")


@pytest.mark.parametrize("score", [THRESHOLD, 0.97])
def test_image_at_or_above_the_threshold_is_classified_as_before(guarded, sagemaker, score):
    sagemaker.state.lesion_score = score
    sagemaker.state.scores = (0.3, 0.7)

    answer = _predict(guarded)

    assert answer.status == 200, answer.body
    assert answer.body["label"] == "malignant" and answer.body["probabilities"]["malignant"] == 0.7
    assert "lesionScore" not in answer.body


def test_model_without_a_guard_is_not_asked_for_a_score_and_never_refuses(lambda_app, sagemaker):
    # GIVEN the default test metadata (no "guard" key) and an endpoint that would score 0
    sagemaker.state.lesion_score = 0.0

    answer = _predict(lambda_app)

    assert answer.status == 200, answer.body
    [call] = sagemaker.state.invocations
    assert call.custom_attributes == ""


def test_guarded_metadata_but_an_endpoint_without_the_guard_classifies(guarded, sagemaker):
    # An older artifact answers the extension with lesion_score null: nothing to refuse on.
    sagemaker.state.lesion_score = None

    assert _predict(guarded).status == 200


def test_a_refusal_logs_neither_the_score_nor_a_label(guarded, sagemaker, captured_output):
    sagemaker.state.lesion_score = 0.0731
    sagemaker.state.scores = (0.123457, 0.876543)

    assert _predict(guarded).status == 422
    output = captured_output()

    assert "not_a_skin_lesion" in output, "the refusal was not logged: the test would prove nothing"
    for leaked in ("0.0731", "lesionScore", "lesion_score", '"label"', "p_malignant", "0.876543", "0.123457"):
        assert leaked not in output


@pytest.mark.parametrize("bad", [{"threshold": "high"}, {"threshold": 1.5}, {"method": "no threshold"}, 0.3])
def test_an_unreadable_guard_in_the_metadata_is_model_unavailable_not_a_silent_pass(
    lambda_app, tmp_path, monkeypatch, bad
):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({**METADATA, "guard": bad}))
    monkeypatch.setenv("MODEL_METADATA_URI", str(path))
    lambda_app.metadata.forget()

    answer = _predict(lambda_app)

    assert (answer.status, answer.body["error"]["code"]) == (503, "model_unavailable")
    assert "guard" in answer.body["error"]["message"]


def test_model_route_shows_the_guard_threshold_and_the_per_source_figures(guarded):
    event = make_event(None, content_type=None)
    event.update(path="/model", resource="/model", httpMethod="GET")

    answer = invoke(guarded, event)

    assert answer.status == 200
    assert answer.body["guard"]["threshold"] == THRESHOLD
    assert answer.body["guard"]["validation"] == GUARD["validation"]
    # What it refuses and where its clinical part comes from (attribution) are shown; how it is
    # built inside (feature layer, fit sizes) is not.
    assert answer.body["guard"]["parts"] == GUARD["parts"]
    assert answer.body["guard"]["clinical"] == GUARD["clinical"]
    assert "feature_layer" not in answer.body["guard"] and "fitted_on" not in answer.body["guard"]
    assert answer.body["metrics_by_source"] == BY_SOURCE
    assert answer.body["metrics_by_source_split"] == "test"  # the page labels the figures with it
    assert answer.body["leave_one_source_out"] == LEAVE_ONE_OUT
    _schema(guarded, "ModelInfo").validate(answer.body)


def test_model_route_without_a_guard_has_no_guard_key(lambda_app):
    event = make_event(None, content_type=None)
    event.update(path="/model", resource="/model", httpMethod="GET")

    assert "guard" not in invoke(lambda_app, event).body
