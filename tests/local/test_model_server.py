"""The model server answers like a SageMaker endpoint: boto3 sees the same results and errors."""

from __future__ import annotations

import base64
import tarfile
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from skinlesion.local.model_runtime import ArtifactError, ServedModel
from skinlesion.local.model_server import DEFAULT_ENDPOINT_NAME, LOCAL_ACCOUNT_ID, start_model_server

from .tiny_artifact import build_tiny_artifact, jpeg_bytes

pytestmark = pytest.mark.slow  # builds and loads a (tiny) TensorFlow model


def runtime(url: str):
    return boto3.client(
        "sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip


def probabilities(response) -> list[float]:
    import json

    return json.loads(response["Body"].read())


def test_ping_is_200_once_loaded(model_server):
    assert requests.get(f"{model_server.url}/ping", timeout=5).status_code == 200


def test_boto3_invoke_endpoint_returns_two_probabilities(model_server):
    response = runtime(model_server.url).invoke_endpoint(
        EndpointName=DEFAULT_ENDPOINT_NAME,
        ContentType="application/x-image",
        Accept="application/json",
        Body=jpeg_bytes(),
    )
    p_benign, p_malignant = probabilities(response)
    assert p_benign + p_malignant == pytest.approx(1, abs=1e-6)
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_different_images_get_different_scores(model_server):
    client = runtime(model_server.url)
    dark, light = (
        probabilities(client.invoke_endpoint(EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="image/jpeg",
                                             Body=jpeg_bytes(colour=c)))
        for c in ((10, 10, 10), (250, 250, 250))
    )  # fmt: skip
    assert dark != light


def test_unknown_endpoint_is_validation_error_as_sagemaker_says_it(model_server):
    with pytest.raises(ClientError) as caught:
        runtime(model_server.url).invoke_endpoint(
            EndpointName="nope", ContentType="image/jpeg", Body=jpeg_bytes()
        )
    error = caught.value.response
    assert error["Error"] == {
        "Code": "ValidationError",
        "Message": f"Endpoint nope of account {LOCAL_ACCOUNT_ID} not found.",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_undecodable_image_is_model_error_with_the_original_status(model_server):
    with pytest.raises(ClientError) as caught:
        runtime(model_server.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="image/jpeg", Body=b"no"
        )
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400


def test_handler_exception_is_a_500_from_the_container(model_server):
    reply = requests.post(
        f"{model_server.url}/invocations", data=b"x", headers={"Content-Type": "text/csv"}, timeout=5
    )
    assert reply.status_code == 500 and "Unsupported content type" in reply.json()["error"]


def test_tf_serving_json_passes_through(model_server):
    body = {"instances": [{"b64": base64.b64encode(jpeg_bytes()).decode()}] * 2}
    reply = requests.post(f"{model_server.url}/invocations", json=body, timeout=10)
    assert reply.status_code == 200
    predictions = reply.json()["predictions"]
    assert len(predictions) == 2 and predictions[0] == pytest.approx(predictions[1])


def test_single_handler_artifact_calls_the_tf_serving_uri(tiny_model_single_handler):
    server = start_model_server(tiny_model_single_handler, port=0)
    try:
        response = runtime(server.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="image/jpeg", Body=jpeg_bytes()
        )
        assert sum(probabilities(response)) == pytest.approx(1, abs=1e-6)
    finally:
        server.stop()
        server.model.close()


def test_artifact_without_a_saved_model_is_refused_clearly(tmp_path: Path):
    bad = tmp_path / "model.tar.gz"
    (tmp_path / "metadata.json").write_text("{}")
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(tmp_path / "metadata.json", arcname="metadata.json")
    with pytest.raises(ArtifactError, match="saved_model.pb"):
        ServedModel(bad)


def test_missing_artifact_is_refused_clearly(tmp_path: Path):
    with pytest.raises(ArtifactError, match="not found"):
        ServedModel(tmp_path / "absent.tar.gz")


def test_payload_over_the_invoke_endpoint_limit_is_413(model_server):
    with pytest.raises(ClientError) as caught:
        runtime(model_server.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="image/jpeg", Body=b"\0" * (6 * 1024 * 1024 + 1)
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "content length exceeded" in str(caught.value)


def test_batched_serving_gives_the_unbatched_answers(tiny_model):
    from concurrent.futures import ThreadPoolExecutor

    images = [jpeg_bytes(colour=(c, 255 - c, 90)) for c in range(0, 250, 25)]
    plain, batched = ServedModel(tiny_model, batching=False), ServedModel(tiny_model, batching=True)
    try:

        def ask(model: ServedModel, image: bytes):
            import json

            reply = model.invoke(image, content_type="image/jpeg", accept=None, custom_attributes=None)
            return json.loads(reply.body) if reply.status == 200 else reply.status

        with ThreadPoolExecutor(5) as pool:
            together = list(pool.map(lambda image: ask(batched, image), images + [b"not an image"]))
        alone = [ask(plain, image) for image in images]
        for got, expected in zip(together[:-1], alone, strict=True):
            assert got == pytest.approx(expected, abs=1e-5)
        assert together[-1] == 400  # the bad one failed alone (its batch-mates got answers)
    finally:
        plain.close()
        batched.close()


@pytest.fixture(scope="module")
def shipped_handlers_server(tmp_path_factory):
    """The tiny model with the project's own code/inference.py (model_src/inference.py)."""
    handlers = (Path(__file__).resolve().parents[2] / "model_src" / "inference.py").read_text()
    server = start_model_server(
        build_tiny_artifact(tmp_path_factory.mktemp("shipped") / "m.tar.gz", handlers)
    )
    yield server
    server.stop()
    server.model.close()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "words"),
    [("text/csv", b"1,2,3", 415, "unsupported content type"), ("image/jpeg", b"", 400, "empty request body")],
)
def test_a_handler_error_with_a_4xx_keeps_its_status(
    shipped_handlers_server, content_type, body, status, words
):
    # inference.RequestError(status_code=4xx): the client's mistake, answered as such, not 500
    reply = requests.post(
        f"{shipped_handlers_server.url}/invocations",
        data=body,
        headers={"Content-Type": content_type},
        timeout=5,
    )
    assert reply.status_code == status
    assert words in reply.json()["error"]
    with pytest.raises(ClientError) as caught:
        runtime(shipped_handlers_server.url).invoke_endpoint(
            EndpointName=DEFAULT_ENDPOINT_NAME, ContentType=content_type, Body=body
        )
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["OriginalStatusCode"] == status
