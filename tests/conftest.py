"""Shared fixtures: the running local stack and a signed-in ID token.

`local_stack` reuses a stack that is already running (its `.local/stack.json`, or the file
named by SKINLESION_STACK_JSON) when it answers; otherwise it starts one for the session
with `python -m skinlesion.local.up` on free ports and stops it afterwards. It returns the
parsed stack.json (DESIGN.md keys). SKINLESION_LOCAL_MODEL serves another model.tar.gz.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from skinlesion.local import idp
from skinlesion.local.httpbase import free_ports

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "default" / "model.tar.gz"
START_TIMEOUT_S = 300  # 2 shared cores: TensorFlow's import alone can take tens of seconds


def _answers(state: dict) -> bool:
    try:
        return requests.get(f"{state['apiUrl']}/health", timeout=3).status_code == 200
    except (requests.RequestException, KeyError):
        return False


def _running_stack() -> dict | None:
    path = Path(os.environ.get("SKINLESION_STACK_JSON", REPO / ".local" / "stack.json"))
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if _answers(state) else None


def _wait_for_state(process: subprocess.Popen, path: Path, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local stack exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if path.is_file():
            return json.loads(path.read_text())
        time.sleep(0.25)
    process.terminate()
    pytest.fail(f"the local stack was not ready within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory):
    """The running local stack's stack.json (started for the session if none is running)."""
    running = _running_stack()
    if running is not None:
        yield running
        return
    model = Path(os.environ.get("SKINLESION_LOCAL_MODEL", DEFAULT_MODEL))
    if not model.is_file():  # models/default is committed: only a wrong SKINLESION_LOCAL_MODEL gets here
        pytest.fail(f"no model artifact at {model} (check SKINLESION_LOCAL_MODEL)")
    workdir = tmp_path_factory.mktemp("local-stack")
    web, api, model_port, cognito = free_ports(4)
    state_file, log = workdir / "stack.json", workdir / "up.log"
    command = [sys.executable, "-m", "skinlesion.local.up", "--model", str(model),
               "--state-file", str(state_file), "--web-port", str(web), "--api-port", str(api),
               "--model-port", str(model_port), "--cognito-port", str(cognito)]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield _wait_for_state(process, state_file, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def sign_in(state: dict, username: str | None = None, password: str | None = None) -> dict:
    """USER_PASSWORD_AUTH against the stack's Cognito; the AuthenticationResult (SignInFailed if refused)."""
    return idp.sign_in(
        state["cognitoEndpoint"],
        state["userPoolClientId"],
        username or state["username"],
        password or state["password"],
    )


@pytest.fixture(scope="session")
def id_token(local_stack: dict) -> str:
    """A fresh Cognito ID token for the demo user (valid for an hour)."""
    return sign_in(local_stack)["IdToken"]


@pytest.fixture(scope="session")
def cognito_sign_in():
    """sign_in(state, username=None, password=None) -> AuthenticationResult, for tests that need more
    than the ID token (access/refresh tokens, wrong passwords)."""
    return sign_in
