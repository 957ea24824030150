"""Fixtures for the CLI tests: an isolated token cache, a moto Cognito (own process), a stack file.

The running local stack comes from tests/conftest.py's `local_stack` (SKINLESION_STACK_JSON
points it at a stack already started by hand).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from skinlesion.local.httpbase import free_ports

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


def _moto_server() -> tuple[subprocess.Popen, str]:
    """moto's server in its own process: a `mock_aws()` elsewhere in this pytest process resets
    moto's in-process backends, which an in-process ThreadedMotoServer would share."""
    (port,) = free_ports(1)
    endpoint = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(endpoint, timeout=1)
            return process, endpoint
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("moto's server did not start within 60 s")


@pytest.fixture
def ctrl_c_handled() -> Iterator[None]:
    """Python's own SIGINT handler for the test, as in a terminal: `_thread.interrupt_main()` does
    nothing while SIGINT is ignored, and a runner started in the background of a non-interactive
    shell (`cmd &`) inherits SIGINT ignored, so a Ctrl-C test would pass or fail by how it was run."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def moto_cognito() -> Iterator[Cognito]:
    server, endpoint = _moto_server()
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
        server.terminate()
        server.wait(timeout=10)


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
