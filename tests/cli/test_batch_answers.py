"""How batch treats each kind of API answer: throttles retried, refusals and errors become rows.

A scripted HTTP server stands in for the API, so each answer (429 with Retry-After, 503,
the guard's 422 `not_a_skin_lesion`) is exactly the contract's and the test sees every
request that was sent.
"""

from __future__ import annotations

import _thread
import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from skinlesion import batch, batch_local

OK = {
    "label": "malignant",
    "probabilities": {"benign": 0.25, "malignant": 0.75},
    "confidence": 0.75,
    "threshold": 0.5,
    "model": {"version": "v-test", "arch": "x"},
    "requestId": "r1",
}
REFUSED = {
    "error": {"code": "not_a_skin_lesion", "message": "This does not look like a skin lesion."},
    "lesionScore": 0.04,
    "requestId": "r2",
}


class ScriptedApi:
    """Answers POST /predict from a per-file script keyed by the image's size in bytes."""

    def __init__(self) -> None:
        self.scripts: dict[int, list[tuple[int, dict, dict]]] = {}
        self.requests: list[int] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                size = int(self.headers["Content-Length"])
                self.rfile.read(size)
                api.requests.append(size)
                script = api.scripts[size]
                status, body, headers = script.pop(0) if len(script) > 1 else script[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    scripted = ScriptedApi()
    thread = threading.Thread(target=scripted.server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.server.shutdown()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(batch_local.time, "sleep", waits.append)
    return waits


def _image(folder: Path, name: str, side: int) -> int:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (side, side), (150, 90, 70)).save(path, format="PNG")
    return path.stat().st_size


def _batch(api: ScriptedApi, folder: Path, out: Path, *extra: str) -> tuple[int, dict[str, dict]]:
    code = batch.main(
        [str(folder), "--out", str(out), "--api", api.url, "--token", "t", "--no-progress", *extra]
    )
    with open(out, newline="") as handle:
        return code, {row["path"]: row for row in csv.DictReader(handle)}


def test_throttles_and_busy_answers_are_retried_with_backoff(api, tmp_path, no_backoff, capsys) -> None:
    # GIVEN an API that throttles once (Retry-After: 3) and is then briefly unavailable
    size = _image(tmp_path / "in", "a.png", 64)
    api.scripts[size] = [
        (429, {"message": "Too Many Requests"}, {"Retry-After": "3"}),
        (503, {"error": {"code": "model_unavailable", "message": "busy"}}, {}),
        (200, OK, {}),
    ]
    # WHEN batch scores the file
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv")
    # THEN it waited (at least Retry-After the first time), retried, and wrote the answer
    assert code == 0 and len(api.requests) == 3
    assert no_backoff[0] >= 3 and len(no_backoff) == 2
    assert (rows["a.png"]["label"], rows["a.png"]["p_malignant"]) == ("malignant", "0.75")


def test_retries_are_bounded_and_a_rerun_scores_the_file_again(api, tmp_path, no_backoff) -> None:
    size = _image(tmp_path / "in", "a.png", 64)
    api.scripts[size] = [(503, {"error": {"code": "model_unavailable", "message": "down"}}, {})]
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv", "--retries", "2")
    assert code == 1 and len(api.requests) == 3
    assert rows["a.png"]["error_code"] == "model_unavailable"
    # A transient error is not final: the next run retries it and replaces the row
    api.scripts[size] = [(200, OK, {})]
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv")
    assert code == 0 and rows["a.png"]["label"] == "malignant"
    assert (tmp_path / "r.csv").read_text().count("a.png") == 1


def test_a_refusal_is_a_row_marked_refused_with_its_lesion_score(api, tmp_path, no_backoff, capsys) -> None:
    refused = _image(tmp_path / "in", "cat.png", 80)
    scored = _image(tmp_path / "in", "mole.png", 64)
    api.scripts[refused] = [(422, REFUSED, {})]
    api.scripts[scored] = [(200, {**OK, "lesionScore": 0.97}, {})]
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv")
    assert code == 0  # a refusal is an answer, not a failure
    cat, mole = rows["cat.png"], rows["mole.png"]
    assert (cat["refused"], cat["label"], cat["lesion_score"], cat["error_code"]) == ("true", "", "0.04", "")
    assert (mole["refused"], mole["lesion_score"]) == ("false", "0.97")
    assert "1 refused (not a skin lesion)" in capsys.readouterr().err
    # A refusal is final: a rerun sends nothing
    before = len(api.requests)
    _batch(api, tmp_path / "in", tmp_path / "r.csv")
    assert len(api.requests) == before


def test_client_errors_are_final_rows_and_not_retried(api, tmp_path, no_backoff) -> None:
    size = _image(tmp_path / "in", "tiny.png", 8)
    api.scripts[size] = [(422, {"error": {"code": "image_rejected", "message": "too small"}}, {})]
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv")
    assert code == 1 and len(api.requests) == 1 and not no_backoff
    assert (rows["tiny.png"]["error_code"], rows["tiny.png"]["error_message"]) == (
        "image_rejected",
        "too small",
    )


def test_a_refused_token_stops_the_run_in_one_line(api, tmp_path, no_backoff, capsys) -> None:
    # GIVEN 20 files and an API that answers 401 to the given token
    for side in range(40, 60):
        api.scripts[_image(tmp_path / "in", f"{side}.png", side)] = [(401, {"message": "Unauthorized"}, {})]
    code = batch.main(
        [
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "r.csv"),
            "--api",
            api.url,
            "--token",
            "expired",
            "--no-progress",
            "--workers",
            "2",
        ]
    )
    err = capsys.readouterr().err
    # THEN it stops instead of failing every file, says why, and a rerun will try them all again
    assert code == 3
    assert "skinlesion batch: the API refuses the ID token (HTTP 401)" in err and "Traceback" not in err
    assert len(api.requests) <= 4  # the files already in flight, not all 20
    assert (tmp_path / "r.csv").read_text().count("\n") == 1  # the header: nothing is marked done


def test_ctrl_c_then_rerun_sends_every_file_exactly_once(
    api, tmp_path, no_backoff, monkeypatch, capsys, ctrl_c_handled
) -> None:
    # GIVEN 40 files and Ctrl-C after the 10th row is written, 4 workers busy
    sizes = [_image(tmp_path / "in", f"{side}.png", side) for side in range(30, 70)]
    for size in sizes:
        api.scripts[size] = [(200, OK, {})]
    original, count = batch.ResultsFile.write, []

    def write_then_interrupt(self, row):
        original(self, row)
        count.append(row)
        if len(count) == 10:
            _thread.interrupt_main()

    monkeypatch.setattr(batch.ResultsFile, "write", write_then_interrupt)
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv", "--workers", "4")
    assert code == 130 and 10 <= len(rows) < 40
    assert len(api.requests) == len(rows)  # every request that was answered left its row
    # WHEN the same command runs again
    monkeypatch.setattr(batch.ResultsFile, "write", original)
    code, rows = _batch(api, tmp_path / "in", tmp_path / "r.csv", "--workers", "4")
    # THEN each file was sent exactly once over both runs and has exactly one row
    assert code == 0 and len(rows) == 40
    assert sorted(api.requests) == sorted(sizes)
    assert (tmp_path / "r.csv").read_text().count("\n") == 41


@pytest.fixture
def sign_ins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the Cognito sign-ins a run makes (the real client, against moto's Cognito)."""
    from skinlesion.client import CognitoClient

    calls: list[str] = []
    original = CognitoClient.sign_in

    def counted(self, username, *args, **kwargs):
        calls.append(username)
        return original(self, username, *args, **kwargs)

    monkeypatch.setattr(CognitoClient, "sign_in", counted)
    return calls


def _signed_in(api, moto_cognito, folder, out, *extra):
    return _batch_args(
        api,
        folder,
        out,
        "--client-id",
        moto_cognito.client_id,
        "--cognito-endpoint",
        moto_cognito.endpoint,
        "--region",
        "us-east-1",
        "--username",
        moto_cognito.username,
        "--password",
        moto_cognito.password,
        "--no-cache",
        *extra,
    )


def _batch_args(api, folder, out, *extra):
    code = batch.main([str(folder), "--out", str(out), "--api", api.url, "--no-progress", *extra])
    with open(out, newline="") as handle:
        return code, {row["path"]: row for row in csv.DictReader(handle)}


def test_one_sign_in_serves_every_file_even_without_the_token_cache(api, tmp_path, moto_cognito, sign_ins):
    for side in range(30, 42):
        api.scripts[_image(tmp_path / "in", f"{side}.png", side)] = [(200, OK, {})]
    code, rows = _signed_in(api, moto_cognito, tmp_path / "in", tmp_path / "r.csv", "--workers", "4")
    assert code == 0 and len(rows) == 12 and len(api.requests) == 12
    assert sign_ins == [moto_cognito.username]  # not one per file


def test_a_401_is_answered_by_one_fresh_sign_in(api, tmp_path, moto_cognito, sign_ins, no_backoff):
    size = _image(tmp_path / "in", "a.png", 64)
    api.scripts[size] = [(401, {"message": "Unauthorized"}, {}), (200, OK, {})]
    code, rows = _signed_in(api, moto_cognito, tmp_path / "in", tmp_path / "r.csv")
    assert code == 0 and rows["a.png"]["label"] == "malignant"
    assert len(sign_ins) == 2 and len(api.requests) == 2
