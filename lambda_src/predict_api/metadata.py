"""The served model's metadata.json: threshold, version, arch, metrics. Read once per container.

MODEL_METADATA_URI names it: `s3://bucket/key/model.tar.gz` (the artifact the
endpoint serves; the tar is streamed and reading stops at metadata.json),
`s3://bucket/key/metadata.json`, or a local path to either (the local stack).

`preload()` reads it in the Lambda's init phase, within the contract's metadata
budget, so a request never waits on S3 for it. A failed read is not cached: a
request tries again, but only with the seconds its own time budget leaves
(`current(seconds_left=…)`), so the client still gets JSON before the Lambda times out.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlparse

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

import lesion_contract as contract
from lesion_contract import artifact
from predict_api.errors import ModelUnavailable

CLASS_NAMES = ("benign", "malignant")  # the endpoint's output order, fixed by DESIGN.md
# Below this a retry on the request path could not finish; answer 503 at once instead.
_MIN_RETRY_S = 0.5
_log = logging.getLogger(__name__)
_loaded: ModelMetadata | None = None


@dataclass(frozen=True)
class ModelMetadata:
    """What the API needs from metadata.json, plus the whole document for GET /model."""

    version: str
    arch: str
    threshold: float
    document: dict[str, Any]


class MetadataError(ModelUnavailable):
    """metadata.json is missing, unreadable or inconsistent with the API's contract."""


def preload() -> None:
    """Read the metadata now (the Lambda's init phase); a failure is logged and left to requests."""
    try:
        load()
    except MetadataError as exc:
        _log.warning("model metadata not loaded at init: %s", exc.message)


def current(*, seconds_left: float) -> ModelMetadata:
    """The metadata for a request: as read at init, else one bounded retry if `seconds_left` allows."""
    if _loaded is not None:
        return _loaded
    if seconds_left < _MIN_RETRY_S:
        raise MetadataError("The model metadata is not loaded yet; try again in a moment.")
    return load(budget_s=seconds_left)


def forget() -> None:
    """Drop the cached metadata (tests; a new container starts without it anyway)."""
    global _loaded
    _loaded = None


def load(*, budget_s: float | None = None) -> ModelMetadata:
    """The metadata of the served model, cached after the first successful read.

    `budget_s` bounds an S3 read to one attempt within that many seconds; without it
    the read gets the contract's init budget.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    uri = os.environ.get(contract.ENV_MODEL_METADATA_URI, "").strip()
    if not uri:
        raise MetadataError(
            f"The model metadata location is not configured ({contract.ENV_MODEL_METADATA_URI})."
        )
    try:
        with _open(uri, budget_s=budget_s) as stream:
            raw = _metadata_bytes(stream, is_tar=uri.endswith(artifact.TAR_SUFFIXES))
        document = json.loads(raw)
    except MetadataError:
        raise
    except (OSError, ValueError, tarfile.TarError, BotoCoreError, ClientError) as exc:
        raise MetadataError(f"The model metadata could not be read ({type(exc).__name__}).") from exc
    _loaded = parse(document)
    return _loaded


def parse(document: Any) -> ModelMetadata:
    """Check the fields the API relies on; raises MetadataError naming the bad one."""
    if not isinstance(document, dict):
        raise MetadataError("The model metadata is not a JSON object.")
    names = document.get("class_names")
    if names is not None and tuple(names) != CLASS_NAMES:
        raise MetadataError(f"The model's class_names are {names}; this API expects {list(CLASS_NAMES)}.")
    threshold = document.get("threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold < 1:
        raise MetadataError("The model metadata has no valid threshold (a number in (0, 1)).")
    version = document.get("version")
    if not isinstance(version, str) or not version:
        raise MetadataError("The model metadata has no version.")
    return ModelMetadata(
        version=version,
        arch=str(document.get("arch", "unknown")),
        threshold=float(threshold),
        document=document,
    )


def s3_config(budget_s: float | None = None) -> Config:
    """The S3 client's bounds: the init budget, or one attempt split over `budget_s` seconds."""
    # botocore's 60 s defaults would outlast the init phase and the Lambda timeout alike.
    connect: float = contract.METADATA_CONNECT_TIMEOUT_S
    read: float = contract.METADATA_READ_TIMEOUT_S
    attempts = contract.METADATA_MAX_ATTEMPTS
    if budget_s is not None:
        connect = min(connect, budget_s / 3)
        read, attempts = min(read, budget_s - connect), 1
    retries = {"total_max_attempts": attempts, "mode": "standard"}
    return Config(connect_timeout=connect, read_timeout=read, retries=retries)


@contextmanager
def _open(uri: str, *, budget_s: float | None = None) -> Iterator[IO[bytes]]:
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        # The S3 client only on this path: the local stack's file path never pays for one.
        config = s3_config(budget_s)
        obj = (
            botocore.session.get_session()
            .create_client("s3", config=config)
            .get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
        )
        body = obj["Body"]
        try:
            yield body
        finally:
            body.close()
        return
    path = parsed.path if parsed.scheme == "file" else uri
    with open(path, "rb") as stream:
        yield stream


def _metadata_bytes(stream: IO[bytes], *, is_tar: bool) -> bytes:
    if not is_tar:
        return stream.read()
    try:
        return artifact.metadata_bytes(stream)
    except artifact.NoMetadata:
        raise MetadataError(f"The model artifact has no top-level {artifact.METADATA_NAME}.") from None
