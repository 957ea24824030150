"""The handler against the local stack's real model server serving the shipped default model.

The fake server proves the wire format and the failure mapping; this proves the
images the handler forwards (passed through or re-encoded) are ones the real
model graph decodes, and that the threshold and version come from the artifact.
The images are a real dermoscopic photo (tests/data) in each form, so a shipped
model with a not-a-lesion guard classifies them too; only the grayscale copy may be
refused, and then only with a score below the artifact's own guard threshold.
"""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from . import imagegen
from .conftest import invoke, make_event

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "models" / "default" / "model.tar.gz"
SAMPLE = REPO / "tests" / "data" / "ISIC_0024398_nevus.jpg"  # a real dermoscopic image, shipped

pytestmark = [
    pytest.mark.slow,
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


def _lesion(size: tuple[int, int], fmt: str, *, mode: str = "RGB", orientation: int | None = None) -> bytes:
    image = Image.open(SAMPLE).convert("RGB").resize(size).convert(mode)
    options: dict = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    if orientation is not None:
        exif = Image.Exif()
        exif[imagegen.EXIF_ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("form", "content_type"),
    [
        (((224, 224), "JPEG"), "image/jpeg"),  # passed through
        (((300, 240), "PNG", "L"), "image/png"),  # grayscale PNG passed through
        (((256, 256), "WEBP"), "image/webp"),  # re-encoded as JPEG
        (((2400, 1600), "JPEG", "RGB", 6), "image/jpeg"),  # rotated and downscaled
    ],
    ids=["jpeg", "grayscale-png", "webp", "rotated-large-jpeg"],
)
def test_real_model_classifies_what_the_handler_forwards(real_endpoint, form, content_type):
    size, fmt, *rest = form
    image = _lesion(
        size, fmt, mode=rest[0] if rest else "RGB", orientation=rest[1] if len(rest) > 1 else None
    )
    answer = invoke(real_endpoint, make_event(image, content_type=content_type))

    metadata = _artifact_metadata()
    if answer.status == 422 and fmt == "PNG" and "guard" in metadata:
        # A guarded model may refuse the grayscale copy, but only as its own threshold says.
        assert answer.body["error"]["code"] == "not_a_skin_lesion"
        assert answer.body["lesionScore"] < metadata["guard"]["threshold"]
        return
    assert answer.status == 200, answer.body
    probabilities = answer.body["probabilities"]
    assert probabilities["benign"] + probabilities["malignant"] == pytest.approx(1.0, abs=1e-4)
    assert answer.body["threshold"] == metadata["threshold"]
    assert answer.body["model"]["version"] == metadata["version"]
    expected = "malignant" if probabilities["malignant"] >= metadata["threshold"] else "benign"
    assert answer.body["label"] == expected
