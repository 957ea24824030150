"""`python -m skinlesion.local.up`: a clear error on busy ports, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up_command(artifact: Path, state_file: Path, **ports: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "skinlesion.local.up",
        "--model",
        str(artifact),
        "--state-file",
        str(state_file),
    ]
    for name in ("web", "api", "model", "cognito"):
        command += [f"--{name}-port", str(ports.get(name) or free_port())]
    return command


@pytest.mark.e2e
@pytest.mark.parametrize("part", ["web", "api"])
def test_starting_on_a_busy_port_fails_fast_and_names_the_port(local_stack, tmp_path, part):
    busy = urlsplit(local_stack[f"{part}Url"]).port
    started = time.monotonic()
    result = subprocess.run(
        up_command(REPO / "pyproject.toml", tmp_path / "stack.json", **{part: busy}),
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"port {busy}" in result.stderr and "already in use" in result.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "stack.json").exists()


@pytest.mark.slow
def test_up_serves_then_stops_cleanly_on_sigterm(tiny_model, tmp_path):
    state_file, model_port = tmp_path / "stack.json", free_port()
    process = subprocess.Popen(up_command(tiny_model, state_file, model=model_port), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not state_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
        state = json.loads(state_file.read_text())
        assert (
            requests.get(f"{state['apiUrl']}/health", timeout=10).json()["localStack"]["modelServer"] == "ok"
        )
        assert state["modelVersion"] == "tiny-test" and state["endpointName"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Sign in   demo@example.com" in output and "stopping (SIGTERM)" in output
    assert not state_file.exists()
    with socket.socket() as s:  # the model server process is gone: a restart can bind its port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do (TIME_WAIT leftovers)
        s.bind(("127.0.0.1", model_port))
