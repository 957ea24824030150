"""Fixtures for the CLI tests: an isolated token cache, an in-process moto Cognito, a stack file.

The running local stack comes from tests/conftest.py's `local_stack` (SKINLESION_STACK_JSON
points it at a stack already started by hand).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

DEMO_USER = "researcher@example.com"
DEMO_PASSWORD = "Corr3ct-Horse-Battery!"


@pytest.fixture(autouse=True)
def token_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own token cache and no sign-in settings from the caller's shell."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SKINLESION_CACHE_DIR", str(cache))
    for name in ("SKINLESION_USERNAME", "SKINLESION_PASSWORD", "SKINLESION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return cache


@dataclass(frozen=True)
class Cognito:
    """A moto Cognito user pool served over HTTP, with one confirmed user."""

    endpoint: str
    user_pool_id: str
    client_id: str
    username: str
    password: str


@pytest.fixture(scope="session")
def moto_cognito() -> Iterator[Cognito]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}/"
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto accepts any key
    )
    pool = idp.create_user_pool(PoolName="cli-tests")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="cli",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username=DEMO_USER, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=DEMO_USER, Password=DEMO_PASSWORD, Permanent=True)
    try:
        yield Cognito(endpoint, pool, client, DEMO_USER, DEMO_PASSWORD)
    finally:
        server.stop()


@pytest.fixture
def moto_idp(moto_cognito: Cognito):
    """A boto3 client for the moto Cognito (to add users in a test)."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=moto_cognito.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def stack_file(local_stack: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stack.json for `--stack-file` (the fixture's own file when it names one)."""
    named = local_stack.get("stateFile")
    if named and Path(named).is_file():
        return Path(named)
    path = tmp_path_factory.mktemp("stack") / "stack.json"
    path.write_text(json.dumps(local_stack))
    return path
