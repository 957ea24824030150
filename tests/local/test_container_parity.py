"""The local model server held to the SageMaker TF Serving container: batching limits, statuses, extension.

Ported from the container's own tests, aws/sagemaker-tensorflow-serving-container
commit 01266243de0e671595386ff1edc12e694cbd2174:
- test/integration/local/test_tfs_batching.py `test_run_tfs_with_batching_parameters`: the
  SAGEMAKER_TFS_* variables become the batching config (here: the limits the server enforces);
- test/integration/local/test_pre_post_processing.py `test_zero_content`,
  `test_unsupported_content_type`, `test_ping_service` (`test_predict_json` is in
  test_guard_extension.py, with the handlers' guard extension). There the container answers 500 for
  an exception from inference.py (its python_service turns any handler exception into
  500 {"error": ...}); the artifact's inference.py here raises errors that carry their 4xx
  (RequestError outside the container, falcon.HTTPError inside), and the local server
  answers that status (issue 15): same request, same message, the handler's status.
The limits and messages of TF Serving's batch scheduler (tensorflow/core/kernels/batching_util/
shared_batch_scheduler.h, `ValidateBatchTaskQueueCapacity`): a request larger than
max_batch_size is InvalidArgument "Task size N is larger than maximum input batch size M"
(TF Serving's REST API: 400 {"error": ...}); a full queue is Unavailable (503).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from lesion_contract import ENDPOINT_CONTAINER_ENV, ENDPOINT_MAX_BATCH_SIZE
from skinlesion.local.batching import QueueFull
from skinlesion.local.model_runtime import ServedModel
from skinlesion.local.model_server import DEFAULT_ENDPOINT_NAME

from .guard_artifact import build_guarded_artifact, endpoint_server, image, instances, runtime

pytestmark = pytest.mark.slow  # builds and loads a (tiny) TensorFlow model


@pytest.fixture(scope="module")
def guarded_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_guarded_artifact(tmp_path_factory.mktemp("guarded") / "model.tar.gz")


@pytest.fixture(scope="module")
def endpoint(guarded_model: Path) -> Iterator:
    with endpoint_server(guarded_model) as server:
        yield server


# ------------------------------------------------------------------ the JSON batch limit
def test_the_endpoint_batches_with_the_documented_limit():
    assert ENDPOINT_CONTAINER_ENV["SAGEMAKER_TFS_ENABLE_BATCHING"] == "true"
    assert int(ENDPOINT_CONTAINER_ENV["SAGEMAKER_TFS_MAX_BATCH_SIZE"]) == ENDPOINT_MAX_BATCH_SIZE == 8


def test_a_batch_at_the_limit_is_answered(endpoint):
    reply = requests.post(f"{endpoint.url}/invocations", json=instances(ENDPOINT_MAX_BATCH_SIZE), timeout=30)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["predictions"]) == ENDPOINT_MAX_BATCH_SIZE


def test_tf_serving_refuses_a_batch_over_the_limit_with_its_own_status_and_body(endpoint):
    size = ENDPOINT_MAX_BATCH_SIZE + 1
    reply = requests.post(f"{endpoint.url}/v1/models/model:predict", json=instances(size), timeout=30)
    assert (reply.status_code, reply.json()) == (
        400,
        {"error": f"Task size {size} is larger than maximum input batch size {ENDPOINT_MAX_BATCH_SIZE}"},
    )


def test_invoke_endpoint_with_a_batch_over_the_limit_is_a_model_error_carrying_400(endpoint):
    with pytest.raises(ClientError) as caught:
        runtime(endpoint.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME,
            ContentType="application/json",
            Body=json.dumps(instances(ENDPOINT_MAX_BATCH_SIZE + 1)),
        )
    error = caught.value.response
    assert (error["Error"]["Code"], error["OriginalStatusCode"]) == ("ModelError", 400)
    assert "is larger than maximum input batch size 8" in error["OriginalMessage"]


def test_a_full_batching_queue_is_tf_servings_503(guarded_model, monkeypatch):
    model = ServedModel(guarded_model, batching=True)
    try:

        def full(values):
            raise QueueFull(2, 2)

        monkeypatch.setattr(model._batcher, "submit", full)
        reply = model.tfs_predict(json.dumps(instances(1)).encode())
        assert reply.status == 503
        assert json.loads(reply.body)["error"].startswith(
            "The batch scheduling queue to which this task was submitted is full"
        )
    finally:
        model.close()


def test_batching_variables_set_the_limits_as_in_the_container(guarded_model, monkeypatch):
    # Port of test_run_tfs_with_batching_parameters: the variables become the batching config.
    for key, value in {"SAGEMAKER_TFS_ENABLE_BATCHING": "true", "SAGEMAKER_TFS_MAX_BATCH_SIZE": "16",
                       "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": "500",
                       "SAGEMAKER_TFS_MAX_ENQUEUED_BATCHES": "1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    model = ServedModel(guarded_model)
    try:
        batcher = model._batcher
        assert (batcher.max_batch, batcher.timeout_s, batcher.max_enqueued_batches) == (16, 0.0005, 1)
        assert model.tfs_predict(json.dumps(instances(16)).encode()).status == 200
        assert model.tfs_predict(json.dumps(instances(17)).encode()).status == 400
    finally:
        model.close()


# ------------------------------------------------------------------ the container's own cases
def test_ping_service(endpoint):
    assert requests.get(f"{endpoint.url}/ping", timeout=5).status_code == 200


def test_zero_content_is_the_handlers_400(endpoint):
    reply = requests.post(
        f"{endpoint.url}/invocations", data=b"", headers={"Content-Type": "application/x-image"}, timeout=5
    )
    assert reply.status_code == 400
    assert "empty request body" in reply.json()["error"]


def test_unsupported_content_type_is_the_handlers_415(endpoint):
    reply = requests.post(
        f"{endpoint.url}/invocations",
        data=b"aW1hZ2UgYnl0ZXM=",
        headers={"Content-Type": "unsupported-type"},
        timeout=5,
    )
    assert reply.status_code == 415
    assert "unsupported content type" in reply.json()["error"]


def test_the_handlers_4xx_reaches_boto3_as_sagemaker_reports_it(endpoint):
    with pytest.raises(ClientError) as caught:
        runtime(endpoint.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="text/csv", Body=b"1,2,3"
        )
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert error["OriginalStatusCode"] == 415
    assert "Received client error (415)" in error["Error"]["Message"]


# ------------------------------------------------------------------ WebP in the graph
def test_the_graph_decodes_webp_like_the_same_pixels_as_png(endpoint):
    # tf.io.decode_image reads WebP in TF 2.20 (the serving container) and 2.21; lossless WebP
    # keeps the pixels, so the model must answer exactly as for the PNG of the same image.
    colour = (120, 80, 60)
    as_png, as_webp = image(colour, fmt="PNG"), image(colour, fmt="WEBP", lossless=True)
    body = {"instances": [{"b64": base64.b64encode(data).decode()} for data in (as_png, as_webp)]}
    reply = requests.post(f"{endpoint.url}/v1/models/model:predict", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    png_row, webp_row = reply.json()["predictions"]  # rows of {output name: value}: two outputs
    assert webp_row["probabilities"] == pytest.approx(png_row["probabilities"], abs=1e-6)
    assert webp_row["lesion_score"] == pytest.approx(png_row["lesion_score"], abs=1e-6)
