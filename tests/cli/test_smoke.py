"""`skinlesion smoke` over real HTTP: against the running local stack (as CI runs it) and a broken API.

The local stack (tests/conftest.py's `local_stack`, started for the session) is the same
system as a deployment: its gateway checks Cognito JWTs, runs the real Lambda handler
and calls a model server that speaks the SageMaker runtime API.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from skinlesion import cli, smoke

REPO = Path(__file__).resolve().parents[2]
CHECKS = (
    "GET /health",
    "sign-in",
    "GET /model",
    "POST /predict lesion image",
    "POST /predict bad file",
    "POST /predict no token",
    "web page + config.json",
)


def _rows(out: str) -> dict[str, str]:
    return {name: line for line in out.splitlines() for name in CHECKS if line.startswith(name + " ")}


@pytest.mark.e2e
def test_smoke_passes_every_check_against_the_local_stack(stack_file: Path, capsys):
    if not (REPO / "web" / "dist" / "index.html").is_file() and not os.environ.get("CI"):
        pytest.skip("web/dist is not built (`make web-build`; `make test` builds it first)")
    code = cli.main(["smoke", "--stack-file", str(stack_file)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = _rows(out)
    assert set(rows) == set(CHECKS)
    assert all(" pass " in row for row in rows.values()), out
    assert "malignant" in rows["POST /predict lesion image"] or "benign" in rows["POST /predict lesion image"]
    assert rows["POST /predict no token"].split()[5] == "401"
    assert f"All {len(CHECKS)} checks passed." in out


@pytest.mark.e2e
def test_smoke_creates_a_temporary_user_and_deletes_it_afterwards(
    local_stack: dict, stack_file: Path, capsys
):
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=local_stack["cognitoEndpoint"],
        region_name=local_stack["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any key
    )

    def smoke_users() -> list[str]:
        users = idp.list_users(UserPoolId=local_stack["userPoolId"])["Users"]
        return [u["Username"] for u in users if "skinlesion-smoke-" in json.dumps(u, default=str)]

    before = smoke_users()
    code = smoke.main(["--stack-file", str(stack_file), "--temporary-user", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert code == 0, body
    sign_in = next(c for c in body["checks"] if c["name"] == "sign-in")
    assert "skinlesion-smoke-" in sign_in["detail"] and "temporary" in sign_in["detail"]
    assert all(c["ok"] for c in body["checks"])
    assert smoke_users() == before  # deleted again


@pytest.mark.e2e
def test_a_wrong_password_fails_sign_in_and_exits_1(stack_file: Path, capsys):
    code = smoke.main(["--stack-file", str(stack_file), "--password", "Wrong-Password-123!"])
    out = capsys.readouterr().out
    assert code == 1
    rows = _rows(out)
    assert " FAIL " in rows["sign-in"] and "incorrect username or password" in rows["sign-in"].lower()
    assert " pass " in rows["GET /health"]


def test_a_missing_local_stack_exits_2_with_how_to_start_it(tmp_path: Path, capsys):
    assert smoke.main(["--stack-file", str(tmp_path / "stack.json")]) == 2
    assert "skinlesion up" in capsys.readouterr().err


# --- an API that gets the contract wrong: smoke must notice ----------------------------------
class _LaxApi(BaseHTTPRequestHandler):
    """Answers /predict 200 for anything, with or without a token; serves a page and a config."""

    api_url = ""

    def log_message(self, *_args) -> None:
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/model":
            self._send(200, {"version": "v1"})
        elif self.path == "/config.json":
            keys = ("region", "userPoolId", "userPoolClientId", "mode")
            self._send(200, {"apiUrl": self.api_url} | dict.fromkeys(keys, "client"))
        else:
            self._send(200, b"<!doctype html><html><body>app</body></html>", "text/html")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(200, {"label": "benign", "probabilities": {"benign": 0.6, "malignant": 0.4}})


@pytest.fixture
def lax_api(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LaxApi)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _LaxApi.api_url = url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps({"apiUrl": url, "webUrl": url, "region": "us-east-1", "userPoolClientId": "client"})
    )
    yield path
    server.shutdown()
    server.server_close()


def test_an_api_that_accepts_bad_files_and_missing_tokens_fails_the_smoke_test(lax_api: Path, capsys):
    code = smoke.main(["--stack-file", str(lax_api), "--token", "any-token"])
    out = capsys.readouterr().out
    assert code == 1
    rows = _rows(out)
    for passing in ("GET /health", "GET /model", "POST /predict lesion image", "web page + config.json"):
        assert " pass " in rows[passing], out
    assert (
        " FAIL " in rows["POST /predict bad file"] and "expected a JSON 4xx" in rows["POST /predict bad file"]
    )
    assert (
        " FAIL " in rows["POST /predict no token"]
        and "HTTP 200 (expected 401)" in rows["POST /predict no token"]
    )
    assert "2 of 7 checks failed." in out


def test_the_bundled_lesion_image_is_a_real_jpeg_with_its_licence_note():
    data = smoke.lesion_image()
    assert data[:3] == b"\xff\xd8\xff" and len(data) > 5000
    note = Path(smoke.__file__).parent / "data" / "README.md"
    assert smoke.LESION_IMAGE in note.read_text() and "CC BY-NC 4.0" in note.read_text()
