"""code/inference.py, called as the SageMaker TF Serving container calls it (2.19 and 2.20
context objects), with TF Serving's answer produced by the real exported SavedModel."""

from __future__ import annotations

import ast
import base64
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import inference
import numpy as np
import pytest
from lesion_model.export import extract

from .helpers import Context219, Context220, lesion_image
from .tfs_session_run import ServingSession

CONTEXTS = [Context219, Context220]


def make_context(cls, content_type):
    fields = dict(
        model_name="model", model_version="1", method="predict",
        rest_uri="http://localhost:8501/v1/models/model:predict", grpc_port="9000", channel=None,
        custom_attributes=None, request_content_type=content_type, accept_header="application/json",
        content_length=0,
    )  # fmt: skip
    if "timeout" in cls._fields:
        fields["timeout"] = 60
    return cls(**fields)


@dataclass
class FakeResponse:
    """The parts of requests.Response that output_handler reads."""

    status_code: int
    content: bytes


def tf_serving(served: ServingSession, request_body: str) -> FakeResponse:
    """What TF Serving's REST predict API answers: b64 instances -> {"predictions": ...}."""
    instances = json.loads(request_body)["instances"]
    blobs = [base64.b64decode(item["b64"]) for item in instances]
    try:
        probabilities = served(blobs)
    except Exception as err:  # TFS answers 400 for an INVALID_ARGUMENT from the graph
        return FakeResponse(400, json.dumps({"error": str(err)[:200]}).encode())
    return FakeResponse(200, json.dumps({"predictions": probabilities}).encode())


@pytest.fixture(scope="module")
def served(trained_artifact, tmp_path_factory) -> ServingSession:
    """The exported model, loaded once as TF Serving loads it."""
    return ServingSession(extract(trained_artifact["package"], str(tmp_path_factory.mktemp("unpacked"))))


@pytest.mark.parametrize("context_cls", CONTEXTS)
@pytest.mark.parametrize("content_type", ["application/x-image", "image/jpeg", "image/png; charset=binary"])
def test_one_image_returns_p_benign_p_malignant(served, context_cls, content_type, rng):
    image = lesion_image(True, rng, fmt="PNG" if "png" in content_type else "JPEG")
    ctx = make_context(context_cls, content_type)
    body, out_type = inference.output_handler(
        tf_serving(served, inference.input_handler(io.BytesIO(image), ctx)), ctx
    )
    probabilities = json.loads(body)
    assert out_type == "application/json" and len(probabilities) == 2
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert probabilities == pytest.approx(served([image])[0], abs=1e-6)


@pytest.mark.parametrize("context_cls", CONTEXTS)
def test_json_batch_returns_predictions_in_order(served, context_cls, rng):
    images = [lesion_image(False, rng), lesion_image(True, rng, size=120)]
    request = {"instances": [{"b64": base64.b64encode(b).decode()} for b in images]}
    ctx = make_context(context_cls, "application/json")
    payload = inference.input_handler(io.BytesIO(json.dumps(request).encode()), ctx)
    body, _ = inference.output_handler(tf_serving(served, payload), ctx)
    predictions = json.loads(body)["predictions"]
    np.testing.assert_allclose(predictions, served(images), atol=1e-6)


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("image/gif", b"GIF89a...", 415),
        ("text/csv", b"1,2,3", 415),
        (None, b"\xff\xd8", 415),
        ("image/jpeg", b"", 400),
        ("application/json", b"{not json", 400),
        ("application/json", b'{"instances": []}', 400),
        ("application/json", b'{"instances": [{"image": "abc"}]}', 400),
        ("application/json", b'{"instances": [{"b64": "%%%not base64"}]}', 400),
    ],
)
def test_bad_requests_raise_a_client_error_with_4xx_status(content_type, body, status):
    with pytest.raises(inference.RequestError) as caught:
        inference.input_handler(io.BytesIO(body), make_context(Context220, content_type))
    assert caught.value.status_code == status


def test_undecodable_image_becomes_a_400_not_a_500(served):
    ctx = make_context(Context219, "image/jpeg")  # 2.19 passes TFS errors on to output_handler
    response = tf_serving(served, inference.input_handler(io.BytesIO(b"\xff\xd8junk"), ctx))
    assert response.status_code == 400
    with pytest.raises(inference.RequestError) as caught:
        inference.output_handler(response, ctx)
    assert caught.value.status_code == 400 and "could not be decoded" in str(caught.value)


def test_server_errors_from_tf_serving_stay_server_errors():
    with pytest.raises(RuntimeError):
        inference.output_handler(FakeResponse(503, b"overloaded"), make_context(Context220, "image/jpeg"))


def test_inference_py_imports_only_the_standard_library():
    tree = ast.parse(Path(inference.__file__).read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    # falcon is imported optionally (it is in the container, used only for 4xx errors).
    assert {m for m in modules if m not in sys.stdlib_module_names} <= {"falcon"}


def test_inside_the_container_errors_are_falcon_http_errors_with_the_status(monkeypatch):
    """The 2.20 container re-raises falcon.HTTPError with its status (other exceptions become 500)."""
    import importlib
    import types

    class HTTPError(Exception):
        def __init__(self, status, title=None, description=None):
            super().__init__(description)
            self.status = status

    monkeypatch.setitem(sys.modules, "falcon", types.SimpleNamespace(HTTPError=HTTPError))
    in_container = importlib.reload(inference)
    try:
        with pytest.raises(HTTPError) as caught:
            in_container.input_handler(io.BytesIO(b"x"), make_context(Context220, "text/plain"))
        assert caught.value.status == 415
    finally:
        monkeypatch.delitem(sys.modules, "falcon")
        importlib.reload(inference)


# ----------------------------------------------------------------------------- the guard extension
def guard_context(cls=Context220, content_type="application/x-image", accept="application/json", attrs=None):
    return make_context(cls, content_type)._replace(accept_header=accept, custom_attributes=attrs)


def tfs_rows(rows) -> FakeResponse:
    return FakeResponse(200, json.dumps({"predictions": rows}).encode())


GUARDED_ROW = {"probabilities": [0.3, 0.7], "lesion_score": 0.84}


@pytest.mark.parametrize("context_cls", CONTEXTS)
def test_default_answer_stays_the_pair_for_a_guarded_artifact(context_cls):
    body, out_type = inference.output_handler(tfs_rows([GUARDED_ROW]), guard_context(context_cls))
    assert json.loads(body) == [0.3, 0.7] and out_type == "application/json"


@pytest.mark.parametrize(
    ("attrs", "accept", "out_type"),
    [
        ("lesion-score=true", "application/json", "application/json"),
        ("tfs-model-name=model, Lesion-Score=TRUE", None, "application/json"),
        ("tfs-method=predict;lesion-score=1", "*/*", "application/json"),
        (None, "application/vnd.skinlesion+json", "application/vnd.skinlesion+json"),
        (None, "application/json;q=0.5, application/vnd.skinlesion+json", "application/vnd.skinlesion+json"),
    ],
)
def test_extension_returns_probabilities_and_lesion_score(attrs, accept, out_type):
    ctx = guard_context(accept=accept, attrs=attrs)
    body, got_type = inference.output_handler(tfs_rows([GUARDED_ROW]), ctx)
    assert json.loads(body) == {"probabilities": [0.3, 0.7], "lesion_score": 0.84}
    assert got_type == out_type


@pytest.mark.parametrize("attrs", ["lesion-score=false", "lesion-score", "no-lesion-score=true", "", None])
def test_other_custom_attributes_leave_the_answer_alone(attrs):
    body, _ = inference.output_handler(tfs_rows([GUARDED_ROW]), guard_context(attrs=attrs))
    assert json.loads(body) == [0.3, 0.7]


def test_old_artifact_without_the_guard_answers_null_lesion_score():
    ctx = guard_context(attrs="lesion-score=true")
    body, _ = inference.output_handler(tfs_rows([[0.6, 0.4]]), ctx)
    assert json.loads(body) == {"probabilities": [0.6, 0.4], "lesion_score": None}
    body, _ = inference.output_handler(tfs_rows([[0.6, 0.4]]), guard_context())
    assert json.loads(body) == [0.6, 0.4]


def test_json_batch_with_the_extension_adds_lesion_scores_in_order():
    rows = [GUARDED_ROW, {"probabilities": [0.9, 0.1], "lesion_score": 0.02}]
    ctx = guard_context(content_type="application/json", attrs="lesion-score=true")
    body, _ = inference.output_handler(tfs_rows(rows), ctx)
    assert json.loads(body) == {"predictions": [[0.3, 0.7], [0.9, 0.1]], "lesion_scores": [0.84, 0.02]}
    body, _ = inference.output_handler(tfs_rows(rows), guard_context(content_type="application/json"))
    assert json.loads(body) == {"predictions": [[0.3, 0.7], [0.9, 0.1]]}


def test_extension_end_to_end_through_a_guarded_savedmodel(tmp_path):
    """input_handler -> the real guarded graph, answering as TF Serving does for two outputs
    (row format: one object per instance) -> output_handler."""
    from .test_guard import guarded_artifact, not_a_lesion

    served = ServingSession(guarded_artifact(tmp_path)["saved_model"])
    names = served.names
    rng = np.random.default_rng(1)
    for image, passes in ((lesion_image(True, rng), True), (not_a_lesion(rng, 0), False)):
        ctx = guard_context(attrs="lesion-score=true")
        request = json.loads(inference.input_handler(io.BytesIO(image), ctx))
        blobs = [base64.b64decode(item["b64"]) for item in request["instances"]]
        probabilities, scores = served.session.run(
            [names["probabilities"], names["lesion_score"]], {names["image_bytes"]: blobs}
        )
        pairs = zip(probabilities.tolist(), scores.tolist(), strict=True)
        rows = [{"probabilities": p, "lesion_score": s} for p, s in pairs]
        body, _ = inference.output_handler(tfs_rows(rows), ctx)
        answer = json.loads(body)
        assert answer["probabilities"] == pytest.approx(probabilities[0].tolist(), abs=1e-6)
        assert (answer["lesion_score"] >= 0.5) is passes
