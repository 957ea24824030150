"""The guard extension through the local model server, answered by the artifact's own inference.py.

The model server hands `CustomAttributes` (header X-Amzn-SageMaker-Custom-Attributes) and
`Accept` to the handlers in the container's context, as the SageMaker TF Serving
container does; model_src/inference.py answers `{"probabilities", "lesion_score"}` when
asked (docs/api.md) and the original `[p_benign, p_malignant]` otherwise. The artifact is
tests/local/guard_artifact.py's tiny guarded model (two outputs). `test_predict_json` is the
port of aws/sagemaker-tensorflow-serving-container commit
01266243de0e671595386ff1edc12e694cbd2174 test/integration/local/test_pre_post_processing.py
`test_predict_json`: a JSON batch keeps the original `{"predictions": [[...]]}` shape.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

import lesion_contract as contract
from skinlesion.local.model_server import DEFAULT_ENDPOINT_NAME

from .guard_artifact import (
    LESION_COLOUR,
    NOT_LESION_COLOUR,
    build_guarded_artifact,
    endpoint_server,
    image,
    instances,
    runtime,
)

pytestmark = pytest.mark.slow  # builds and loads a (tiny) TensorFlow model
GUARD_ACCEPT = contract.GUARD_ACCEPT


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with endpoint_server(
        build_guarded_artifact(tmp_path_factory.mktemp("guarded") / "model.tar.gz")
    ) as server:
        yield server


def test_predict_json(endpoint):
    reply = requests.post(f"{endpoint.url}/invocations", json=instances(3), timeout=30)
    predictions = reply.json()["predictions"]
    assert reply.status_code == 200 and len(predictions) == 3
    assert all(sum(p) == pytest.approx(1, abs=1e-5) for p in predictions)


def _invoke(url: str, colour, **extension):
    return runtime(url).invoke_endpoint(
        EndpointName=DEFAULT_ENDPOINT_NAME, ContentType="application/x-image", Body=image(colour), **extension
    )


def test_without_the_extension_the_answer_is_the_original_pair(endpoint):
    response = _invoke(endpoint.url, NOT_LESION_COLOUR, Accept="application/json")
    answer = json.loads(response["Body"].read())
    assert isinstance(answer, list) and len(answer) == 2


@pytest.mark.parametrize(
    "extension",
    [{"CustomAttributes": contract.GUARD_CUSTOM_ATTRIBUTES}, {"Accept": GUARD_ACCEPT}],
    ids=["attrs", "accept"],
)
def test_the_extension_passes_through_to_the_artifacts_handlers(endpoint, extension):
    lesion = json.loads(_invoke(endpoint.url, LESION_COLOUR, **extension)["Body"].read())
    other_response = _invoke(endpoint.url, NOT_LESION_COLOUR, **extension)
    other = json.loads(other_response["Body"].read())

    assert set(lesion) == set(other) == {"probabilities", "lesion_score"}
    assert lesion["lesion_score"] > 0.5 > other["lesion_score"]
    expected_type = GUARD_ACCEPT if "Accept" in extension else "application/json"
    assert other_response["ContentType"] == expected_type


def test_a_json_batch_with_the_extension_carries_one_score_per_instance(endpoint):
    body = {
        "instances": [
            {"b64": base64.b64encode(image(c)).decode()} for c in (LESION_COLOUR, NOT_LESION_COLOUR)
        ]
    }
    response = runtime(endpoint.url).invoke_endpoint(
        EndpointName=DEFAULT_ENDPOINT_NAME,
        ContentType="application/json",
        CustomAttributes=contract.GUARD_CUSTOM_ATTRIBUTES,
        Body=json.dumps(body),
    )
    answer = json.loads(response["Body"].read())
    assert len(answer["predictions"]) == 2
    high, low = answer["lesion_scores"]
    assert high > 0.5 > low
