"""boto3 clients, built once per container with explicit timeouts and retries.

Tests point them at a moto server with `AWS_ENDPOINT_URL` (boto3 honours it) or
replace them through `set_client`.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 5, "mode": "standard"})
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The shared client for `service` (sagemaker, s3, logs)."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
    return _clients[service]


def set_client(service: str, value: Any) -> None:
    """Use `value` for `service` (tests: a Stubber-backed client or a shim)."""
    _clients[service] = value


def reset_clients() -> None:
    """Forget the cached clients (tests switch endpoints between cases)."""
    _clients.clear()


def error_code(err: Exception) -> str:
    """The AWS error code of a botocore ClientError, '' for anything else."""
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Message", err))
