"""metadata.json is found wherever MODEL_METADATA_URI points: a local or S3 model.tar.gz or JSON file."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from predict_api import metadata
from predict_api.errors import ApiError

from .conftest import METADATA

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "models" / "default" / "model.tar.gz"


def _model_tar(document: dict | None, *, weights_first: bool = True) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        if weights_first:
            add("model/1/variables/variables.data-00000-of-00001", b"\0" * 200_000)
        if document is not None:
            add("metadata.json", json.dumps(document).encode())
        add("code/inference.py", b"# handlers\n")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_cache():
    metadata.forget()
    yield
    metadata.forget()


@pytest.mark.parametrize("name", ["model.tar.gz", "metadata.json"])
def test_reads_metadata_from_a_local_file(tmp_path, monkeypatch, name):
    path = tmp_path / name
    path.write_bytes(_model_tar(METADATA) if name.endswith(".tar.gz") else json.dumps(METADATA).encode())
    monkeypatch.setenv("MODEL_METADATA_URI", str(path))

    model = metadata.load()

    assert (model.version, model.arch, model.threshold) == (METADATA["version"], METADATA["arch"], 0.35)


@mock_aws
@pytest.mark.parametrize("key", ["training/job-1/output/model.tar.gz", "models/metadata.json"])
def test_reads_metadata_from_s3_once_per_container(monkeypatch, key):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    body = _model_tar(METADATA) if key.endswith(".tar.gz") else json.dumps(METADATA).encode()
    s3.put_object(Bucket="artifacts", Key=key, Body=body)
    monkeypatch.setenv("MODEL_METADATA_URI", f"s3://artifacts/{key}")

    first = metadata.load()
    s3.delete_object(Bucket="artifacts", Key=key)  # cached: no second read
    second = metadata.load()

    assert first is second
    assert first.threshold == METADATA["threshold"]


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({**METADATA, "threshold": 1.5}, "threshold"),
        ({k: v for k, v in METADATA.items() if k != "threshold"}, "threshold"),
        ({**METADATA, "version": ""}, "version"),
        ({**METADATA, "class_names": ["malignant", "benign"]}, "class_names"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_inconsistent_metadata_is_refused_with_the_reason(document, words):
    with pytest.raises(ApiError) as raised:
        metadata.parse(document)

    assert raised.value.status == 503
    assert words in raised.value.message


def test_a_model_tar_without_metadata_is_refused_and_not_cached(tmp_path, monkeypatch):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(_model_tar(None))
    monkeypatch.setenv("MODEL_METADATA_URI", str(path))

    with pytest.raises(ApiError, match="no top-level metadata.json"):
        metadata.load()
    path.write_bytes(_model_tar(METADATA))  # fixed artifact: the next request succeeds
    assert metadata.load().version == METADATA["version"]


def test_the_shipped_default_model_has_metadata_the_api_accepts(monkeypatch):
    monkeypatch.setenv("MODEL_METADATA_URI", str(SHIPPED_MODEL))

    model = metadata.load()

    assert 0 < model.threshold < 1
    assert model.version
