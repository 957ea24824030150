"""The handler against the local stack's real model server serving the shipped default model.

The fake server proves the wire format and the failure mapping; this proves the
images the handler forwards (passed through or re-encoded) are ones the real
model graph decodes, and that the threshold and version come from the artifact.
"""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import pytest

from . import imagegen
from .conftest import invoke, make_event

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "models" / "default" / "model.tar.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARTIFACT.exists(), reason="models/default/model.tar.gz is not built"),
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None, reason="the model server needs TensorFlow"
    ),
]


@pytest.fixture(scope="module")
def model_server():
    from skinlesion.local.model_server import start_model_server

    server = start_model_server(ARTIFACT, port=0, endpoint_name="skinlesion-default")
    yield server
    server.stop()
    server.model.close()


@pytest.fixture
def real_endpoint(lambda_app, model_server, monkeypatch):
    monkeypatch.setattr(lambda_app.endpoint, "_client", lambda_app.endpoint.make_client(model_server.url))
    monkeypatch.setattr(lambda_app.endpoint, "ENDPOINT_NAME", "skinlesion-default")
    monkeypatch.setenv("MODEL_METADATA_URI", str(ARTIFACT))
    return lambda_app


def _artifact_metadata() -> dict:
    with tarfile.open(ARTIFACT) as archive:
        member = next(m for m in archive.getmembers() if m.name.removeprefix("./") == "metadata.json")
        return json.load(archive.extractfile(member))


@pytest.mark.parametrize(
    ("image", "content_type"),
    [
        (imagegen.jpeg((224, 224)), "image/jpeg"),  # passed through
        (imagegen.png((300, 240), mode="L"), "image/png"),  # grayscale PNG passed through
        (imagegen.webp((256, 256)), "image/webp"),  # re-encoded as JPEG
        (imagegen.jpeg((2400, 1600), orientation=6), "image/jpeg"),  # rotated and downscaled
    ],
)
def test_real_model_classifies_what_the_handler_forwards(real_endpoint, image, content_type):
    answer = invoke(real_endpoint, make_event(image, content_type=content_type))

    assert answer.status == 200, answer.body
    metadata = _artifact_metadata()
    probabilities = answer.body["probabilities"]
    assert probabilities["benign"] + probabilities["malignant"] == pytest.approx(1.0, abs=1e-4)
    assert answer.body["threshold"] == metadata["threshold"]
    assert answer.body["model"]["version"] == metadata["version"]
    expected = "malignant" if probabilities["malignant"] >= metadata["threshold"] else "benign"
    assert answer.body["label"] == expected
