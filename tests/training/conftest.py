"""Fixtures for the training pipeline: a moto server over HTTP, a stand-in wait handle, events."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import threading
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from training_cr import aws

REGION = "us-east-1"
BUCKET = "skinlesion-artifacts-test"
PREFIX = "skinlesion-3f2a1b"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server for the part, over real HTTP like the Lambda's boto3 would talk to AWS."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto(moto_endpoint, monkeypatch):
    """A fresh moto state, the handlers' clients pointed at it, and the artifacts bucket."""
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ARTIFACTS_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    aws.reset_clients()
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    yield moto_endpoint
    aws.reset_clients()


@dataclass
class WaitHandle:
    """Records the PUTs a WaitCondition handle URL would receive; can refuse the first few."""

    url: str
    signals: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refuse: int = 0
    gone: bool = False  # answer 403, as S3 does for a deleted handle


@pytest.fixture
def wait_handle():
    """A local HTTP server standing in for the presigned WaitConditionHandle URL."""
    handle = WaitHandle(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if handle.gone:
                self.send_response(403)
            elif handle.refuse > 0:
                handle.refuse -= 1
                self.send_response(503)
            else:
                handle.headers.append({k.lower(): v for k, v in self.headers.items()})
                handle.signals.append(json.loads(body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handle.url = f"http://127.0.0.1:{server.server_address[1]}/waitcondition/arn%3Aaws%3Acloudformation/handle?X-Amz-Signature=abc"
    yield handle
    server.shutdown()
    server.server_close()


class FakeContext:
    """The Lambda context the handlers read: time left before the invocation times out."""

    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def model_tar(metadata: dict[str, Any] | None) -> bytes:
    """A model.tar.gz laid out as DESIGN.md says (metadata.json after the SavedModel files)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        files = {"model/1/saved_model.pb": b"\x08\x01" * 512, "code/inference.py": b"# handlers\n"}
        if metadata is not None:
            files["metadata.json"] = json.dumps(metadata).encode()
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def metadata_with(roc_auc: float | None, guard_refusal: float | None = None) -> dict[str, Any]:
    metrics = {"pr_auc": 0.71, "balanced_accuracy": 0.8, "sensitivity": 0.9, "specificity": 0.7}
    if roc_auc is not None:
        metrics["roc_auc"] = roc_auc
    meta: dict[str, Any] = {
        "version": "t",
        "class_names": ["benign", "malignant"],
        "threshold": 0.4,
        "validation_metrics": metrics,
    }
    if guard_refusal is not None:  # what train.py's guard.metadata() records
        meta["guard"] = {"threshold": 0.5, "validation": {"n": 700, "lesion_refusal_rate": guard_refusal}}
    return meta


def training_props(wait_url: str, **overrides: Any) -> dict[str, Any]:
    """Properties as CloudFormation delivers them: every scalar a string."""
    props = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "JobNamePrefix": PREFIX,
        "Fingerprint": "a" * 64,
        "Bucket": BUCKET,
        "Region": REGION,
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerTraining",
        "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.21-gpu-py312",
        "SourceUri": "s3://cdk-assets-123456789012-us-east-1/0123abcd.tar.gz",
        "EntryPoint": "train.py",
        "TrainUri": f"s3://{BUCKET}/datasets/isic/d1/",
        "InstanceType": "ml.p3.2xlarge",
        "InstanceCount": "1",
        "VolumeSizeGb": "50",
        "MaxRuntimeSeconds": "14400",
        "UseSpot": "false",
        "MaxWaitSeconds": "28800",
        "HyperParameters": {"epochs": "10", "arch": "mobilenet_v2"},
        "MinAuc": "0.8",
        "WaitHandleUrl": wait_url,
    }
    return props | overrides


def import_props(wait_url: str, **overrides: Any) -> dict[str, Any]:
    props = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "JobNamePrefix": f"{PREFIX}-import",
        "DatasetId": "isic-b1c2",
        "DatasetPrefix": "datasets/isic/b1c2/",
        "Bucket": BUCKET,
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerTraining",
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.21-cpu-py312",
        "SourceUri": "s3://cdk-assets-123456789012-us-east-1/0123abcd.tar.gz",
        "InstanceType": "ml.m5.xlarge",
        "VolumeSizeGb": "30",
        "MaxRuntimeSeconds": "10800",
        "Arguments": ["--limit", "200", "--image-size", "224"],
        "WaitHandleUrl": wait_url,
    }
    return props | overrides


def cfn_event(request_type: str, resource_type: str, props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResourceType": resource_type,
        "ResourceProperties": props,
        "LogicalResourceId": "TrainingJob",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/SkinLesion/1",
        "RequestId": "req-1",
        **extra,
    }
