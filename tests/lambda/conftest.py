"""Fixtures for the predict Lambda: the fake SageMaker runtime, the handler under its env, events.

The handler module reads its environment at import (endpoint name and URL, CORS
origin), so `lambda_app` imports a fresh copy of `predict_api` under the test env
and puts any earlier copy back afterwards: other suites in the same pytest process
(the local stack's in-process gateway, the fuzz tests) keep theirs.
"""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .fake_sagemaker import FakeSageMakerRuntime

EVENTS = Path(__file__).parent / "events"
ENDPOINT = "skin-lesion-test"
ORIGIN = "https://d111111abcdef8.cloudfront.net"
# A JWT-shaped token: the log test checks it never reaches the logs.
TOKEN = (
    "eyJraWQiOiJ0ZXN0IiwiYWxnIjoiUlMyNTYifQ.eyJzdWIiOiI3ZjNjMmIxYSIsInRva2VuX3VzZSI6ImlkIn0"
    ".c2lnbmF0dXJlLXNlY3JldA"
)
METADATA = {
    "version": "2026-11-29T12-00-00Z-test123",
    "arch": "mobilenet_v2_0.35",
    "class_names": ["benign", "malignant"],
    "input_size": 224,
    "threshold": 0.35,
    "validation_metrics": {"roc_auc": 0.86, "pr_auc": 0.71, "balanced_accuracy": 0.78},
    "dataset": {"name": "isic-dev", "train": 1600, "validation": 400},
    "framework": {"tensorflow": "2.21.0"},
    "source_revision": "abc123",
    "trained_at": "2026-11-29T12:00:00Z",
}


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context that Powertools reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "skinlesion-predict"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:skinlesion-predict"
    memory_limit_in_mb: int = 1024
    log_group_name: str = "/aws/lambda/skinlesion-predict"
    log_stream_name: str = "2026/11/29/[$LATEST]0123456789abcdef"
    remaining_ms: int = 25_000  # a fresh invocation of the stack's 25 s function

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="session")
def sagemaker() -> Iterator[FakeSageMakerRuntime]:
    server = FakeSageMakerRuntime(ENDPOINT).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def metadata_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "metadata.json"
    path.write_text(json.dumps(METADATA))
    return path


def _env(sagemaker: FakeSageMakerRuntime, metadata_file: Path) -> dict[str, str]:
    return {
        "ENDPOINT_NAME": ENDPOINT,
        "SAGEMAKER_RUNTIME_ENDPOINT_URL": sagemaker.url,
        "MODEL_METADATA_URI": str(metadata_file),
        "ALLOWED_ORIGIN": ORIGIN,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "predict-api-test",
        "POWERTOOLS_METRICS_NAMESPACE": "SkinLesionTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def import_fresh_app(env: dict[str, str]) -> ModuleType:
    """A new copy of `predict_api.app` imported under `env`, as a new Lambda container does."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        earlier = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] == "predict_api"}
        for name in earlier:
            del sys.modules[name]
        try:
            return importlib.import_module("predict_api.app")
        finally:
            for name in [n for n in sys.modules if n.split(".")[0] == "predict_api"]:
                del sys.modules[name]
            sys.modules.update(earlier)


@pytest.fixture(scope="session")
def lambda_env(sagemaker: FakeSageMakerRuntime, metadata_file: Path) -> dict[str, str]:
    return _env(sagemaker, metadata_file)


@pytest.fixture(scope="session")
def lambda_app(lambda_env: dict[str, str]) -> ModuleType:
    """A fresh `predict_api.app` imported under the test environment."""
    return import_fresh_app(lambda_env)


@pytest.fixture(autouse=True)
def _test_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, metadata_file: Path
) -> Iterator[None]:
    """Per test: the env the handler reads lazily, a clean fake server and metadata cache."""
    if "lambda_app" not in request.fixturenames:
        yield
        return
    sagemaker: FakeSageMakerRuntime = request.getfixturevalue("sagemaker")
    app: ModuleType = request.getfixturevalue("lambda_app")
    for key, value in _env(sagemaker, metadata_file).items():
        monkeypatch.setenv(key, value)
    sagemaker.reset()
    app.metadata.forget()
    yield
    app.metadata.forget()


def make_event(
    body: bytes | str | None,
    *,
    content_type: str | None = "image/jpeg",
    base64_encoded: bool = True,
    template: str = "post_predict.json",
    token: str = TOKEN,
) -> dict[str, Any]:
    """An API Gateway REST proxy event as API Gateway builds it for a binary upload."""
    event = copy.deepcopy(json.loads((EVENTS / template).read_text()))
    for headers, wrap in ((event["headers"], lambda v: v), (event["multiValueHeaders"], lambda v: [v])):
        if "Authorization" in headers:
            headers["Authorization"] = wrap(f"Bearer {token}")
        headers.pop("Content-Type", None)
        if content_type is not None:
            headers["Content-Type"] = wrap(content_type)
    if body is None:
        event["body"], event["isBase64Encoded"] = None, False
    elif base64_encoded:
        raw = body.encode() if isinstance(body, str) else body
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode("ascii"), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    return event


@dataclass
class Answer:
    """A handler response, parsed."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def invoke(app: ModuleType, event: dict[str, Any], context: FakeLambdaContext | None = None) -> Answer:
    raw = app.handler(event, context or FakeLambdaContext())
    headers = {k.lower(): v[-1] for k, v in raw.get("multiValueHeaders", {}).items()}
    headers.update({k.lower(): v for k, v in (raw.get("headers") or {}).items()})
    return Answer(status=raw["statusCode"], headers=headers, body=json.loads(raw["body"]))


@pytest.fixture
def captured_output(
    lambda_app: ModuleType, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], str]]:
    """A function returning all the handler wrote: Logger records (own stream) and EMF metrics (stdout)."""
    buffer = io.StringIO()
    handlers = lambda_app.logger.handlers
    previous = [handler.setStream(buffer) for handler in handlers]

    def output() -> str:
        return buffer.getvalue() + capsys.readouterr().out

    yield output
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)
