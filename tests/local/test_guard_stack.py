"""The not-a-lesion guard end to end on the local stack: HTTP API, GET /model and the CLI.

A local stack (`python -m skinlesion.local.up`) serves a tiny guarded artifact whose
code/inference.py is model_src/inference.py (tests/local/guard_artifact.py): the Lambda
asks the model server for the lesion score through the documented extension, the model
server runs the artifact's own handlers, and a low score comes back as 422
`not_a_skin_lesion` over real HTTP, signed in with a real token.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from skinlesion import cli
from skinlesion.local.httpbase import free_ports

from .guard_artifact import LESION_COLOUR, NOT_LESION_COLOUR, THRESHOLD, build_guarded_artifact, image

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300  # 2 shared cores: TensorFlow's import alone can take tens of seconds
REFUSAL = (
    "This does not look like a dermoscopic image of a skin lesion. Expected: a dermoscopic image of "
    "one skin lesion, centred (for example from a phone with a dermatoscope attachment)."
)


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A local stack of its own, serving the guarded tiny artifact; its stack.json (+ stateFile)."""
    workdir = tmp_path_factory.mktemp("guarded-stack")
    artifact = build_guarded_artifact(workdir / "model.tar.gz")
    web, api, model_port, cognito = free_ports(4)
    state_file, log = workdir / "stack.json", workdir / "up.log"
    command = [sys.executable, "-m", "skinlesion.local.up", "--model", str(artifact),
               "--state-file", str(state_file), "--web-port", str(web), "--api-port", str(api),
               "--model-port", str(model_port), "--cognito-port", str(cognito)]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not state_file.is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the guarded local stack did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield {**json.loads(state_file.read_text()), "stateFile": str(state_file)}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def token(guarded_stack: dict) -> str:
    user = {"USERNAME": guarded_stack["username"], "PASSWORD": guarded_stack["password"]}
    response = requests.post(
        guarded_stack["cognitoEndpoint"],
        headers={"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
                 "Content-Type": "application/x-amz-json-1.1"},
        json={"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": guarded_stack["userPoolClientId"],
              "AuthParameters": user},
        timeout=10,
    )  # fmt: skip
    response.raise_for_status()
    return response.json()["AuthenticationResult"]["IdToken"]


def _predict(stack: dict, token: str, body: bytes) -> requests.Response:
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}", "Origin": stack["webUrl"]}
    return requests.post(f"{stack['apiUrl']}/predict", data=body, headers=headers, timeout=60)


def test_a_non_lesion_image_is_refused_with_422_over_http(guarded_stack, token):
    response = _predict(guarded_stack, token, image(NOT_LESION_COLOUR))

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == {"code": "not_a_skin_lesion", "message": REFUSAL}
    assert 0 <= body["lesionScore"] < THRESHOLD
    assert body["requestId"] == response.headers["X-Request-Id"]
    assert set(body) == {"error", "lesionScore", "requestId"}  # no label, no probabilities
    assert response.headers["Access-Control-Allow-Origin"] == guarded_stack["webUrl"]


def test_a_lesion_coloured_image_is_classified_as_before(guarded_stack, token):
    response = _predict(guarded_stack, token, image(LESION_COLOUR))

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"label", "probabilities", "confidence", "threshold", "model", "requestId"}
    assert body["model"]["version"] == "tiny-guarded"


def test_model_route_shows_the_guard_threshold(guarded_stack, token):
    response = requests.get(f"{guarded_stack['apiUrl']}/model", headers={"Authorization": token}, timeout=10)

    assert response.status_code == 200, response.text
    assert response.json()["guard"]["threshold"] == THRESHOLD


def test_cli_prints_the_refusal_and_exits_1_while_other_files_are_classified(
    guarded_stack, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SKINLESION_CACHE_DIR", str(tmp_path / "cache"))  # not the person's token cache
    for name in ("SKINLESION_USERNAME", "SKINLESION_PASSWORD", "SKINLESION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    lesion, other = tmp_path / "lesion.jpg", tmp_path / "living-room.jpg"
    lesion.write_bytes(image(LESION_COLOUR))
    other.write_bytes(image(NOT_LESION_COLOUR))

    code = cli.main(["predict", str(lesion), str(other), "--stack-file", guarded_stack["stateFile"],
                     "--no-progress"])  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows[str(lesion)].split()[1] in ("benign", "malignant")
    assert rows[str(other)].split(None, 2)[1:] == ["REFUSED", f"HTTP 422: {REFUSAL}"]
    assert "1 of 2 classified, 1 failed (1 not a skin-lesion image)." in err
    assert "Traceback" not in err
