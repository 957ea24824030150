"""`skinlesion predict` and the model's guard: a refused file is reported, the others still run, exit 1.

The API here is a small HTTP server answering what the predict API answers (a 200
prediction, or the 422 `not_a_skin_lesion` body of docs/api.md), so the test needs no
stack; the same refusal through the real local stack is in tests/local/test_guard_stack.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from skinlesion.auth import TokenProvider
from skinlesion.predict import EXIT_OK, EXIT_SOME_FAILED, run

REFUSAL_MESSAGE = (
    "This does not look like a dermoscopic image of a skin lesion. Expected: a dermoscopic image of "
    "one skin lesion, centred (for example from a phone with a dermatoscope attachment)."
)
PREDICTION = {
    "label": "benign",
    "probabilities": {"benign": 0.8, "malignant": 0.2},
    "confidence": 0.8,
    "threshold": 0.35,
    "model": {"version": "guarded-v1", "arch": "test"},
    "requestId": "req-ok",
}


class _FakeApi(BaseHTTPRequestHandler):
    """Refuses the files the test marks (a PNG text chunk), classifies the others."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b"REFUSE" in body:  # the PNG text chunk the test writes into the refused files
            status, answer = (
                422,
                {
                    "error": {"code": "not_a_skin_lesion", "message": REFUSAL_MESSAGE},
                    "lesionScore": 0.0123,
                    "requestId": "req-refused",
                },
            )
        else:
            status, answer = 200, PREDICTION
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _png(path: Path, *, refuse: bool) -> str:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", "REFUSE" if refuse else "lesion")
    Image.new("RGB", (64, 64), (150, 90, 70)).save(path, format="PNG", pnginfo=info)
    return str(path)


def _tokens() -> TokenProvider:
    return TokenProvider(cognito=None, username=None, password=lambda: "", cache=None, token="token")


def _run(files: list[str], api_url: str, *, as_json: bool) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = run(files, api_url, _tokens(), as_json=as_json, workers=2, show_progress=False, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_refused_file_is_printed_with_the_reason_and_the_exit_code_is_1(api_url, tmp_path) -> None:
    # GIVEN a lesion image and a photo the model's guard refuses
    lesion, other = _png(tmp_path / "lesion.png", refuse=False), _png(tmp_path / "cat.png", refuse=True)
    # WHEN both are classified
    code, out, err = _run([lesion, other], api_url, as_json=False)
    # THEN the lesion gets its label, the other file says why it was refused, and the exit code is 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows[lesion].split()[1] == "benign"
    assert rows[other].split(None, 2)[1:] == ["REFUSED", f"HTTP 422: {REFUSAL_MESSAGE}"]
    assert code == EXIT_SOME_FAILED == 1
    assert "1 of 2 classified, 1 failed (1 not a skin-lesion image)." in err


def test_refusal_in_json_lines_carries_the_code_and_no_label(api_url, tmp_path) -> None:
    other = _png(tmp_path / "screenshot.png", refuse=True)
    code, out, _ = _run([other], api_url, as_json=True)
    line = json.loads(out)
    assert code == 1
    assert (line["ok"], line["status"], line["error"]["code"]) == (False, 422, "not_a_skin_lesion")
    assert line["requestId"] == "req-refused" and "label" not in line
    assert line["lesionScore"] == 0.0123  # the API's own score, as the 422 body gives it


def test_all_lesions_exit_zero(api_url, tmp_path) -> None:
    files = [_png(tmp_path / f"lesion{i}.png", refuse=False) for i in range(2)]
    code, _, err = _run(files, api_url, as_json=False)
    assert code == EXIT_OK and "2 of 2 classified, 0 failed." in err
