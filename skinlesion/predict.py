"""`skinlesion predict`: classify image files through the deployed (or local) API.

Each file is read, typed, shrunk if the API could not take it, and posted with the
ID token. A bad file is one failed row; the others still run. Results print as a
table (default) or as JSON lines (`--json`, streamed in input order).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from skinlesion.auth import TokenProvider
from skinlesion.client import ApiError, PredictApi, SignInError
from skinlesion.images import ImageFileError, read_image

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGN_IN = 3
PROGRESS_MIN_FILES = 4  # below this a bar is noise
# The API's 422 for an image its model's guard refuses (not a dermoscopic lesion image): the
# file gets no label, its row says why, and it counts as failed (exit code 1).
NOT_A_LESION = "not_a_skin_lesion"


@dataclass
class Outcome:
    """One file's result: the API's 200 body, or an error with the HTTP status when there was one."""

    file: str
    body: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    status: int | None = None
    request_id: str | None = None
    downscaled: bool = False
    lesion_score: float | None = None  # a refusal's score from the guard (below its threshold)

    @property
    def ok(self) -> bool:
        return self.body is not None

    @property
    def refused(self) -> bool:
        """The model's guard refused the image: not a dermoscopic image of a skin lesion."""
        return self.error_code == NOT_A_LESION

    def as_json(self) -> dict[str, Any]:
        if self.ok:
            assert self.body is not None
            return {"file": self.file, "ok": True, **self.body, "downscaled": self.downscaled}
        failed: dict[str, Any] = {
            "file": self.file,
            "ok": False,
            "status": self.status,
            "requestId": self.request_id,
            "error": {"code": self.error_code, "message": self.error_message},
        }
        if self.refused and self.lesion_score is not None:
            failed["lesionScore"] = self.lesion_score
        return failed


class Classifier:
    """Posts files with a shared token; one HTTP session per worker thread."""

    def __init__(self, api_url: str, tokens: TokenProvider) -> None:
        self._api_url = api_url
        self._tokens = tokens
        self._local = threading.local()
        self._lock = threading.Lock()

    def _api(self) -> PredictApi:
        if not hasattr(self._local, "api"):
            self._local.api = PredictApi(self._api_url)
        return self._local.api

    def _token(self) -> str:
        with self._lock:  # one sign-in or refresh at a time, shared by all workers
            return self._tokens.token()

    def classify(self, name: str) -> Outcome:
        try:
            image = read_image(Path(name))
        except ImageFileError as exc:
            return Outcome(name, error_code="file_error", error_message=str(exc))
        try:
            try:
                prediction = self._api().predict(image.data, image.content_type, self._token())
            except ApiError as exc:
                if exc.status != 401 or not self._tokens.can_renew:
                    raise
                with self._lock:  # the cached token was revoked or expired early: sign in again once
                    self._tokens.invalidate()
                prediction = self._api().predict(image.data, image.content_type, self._token())
        except ApiError as exc:
            return Outcome(
                name,
                error_code=exc.code or ("unreachable" if exc.status is None else "http_error"),
                error_message=exc.detail,
                status=exc.status,
                request_id=exc.request_id,
                lesion_score=exc.lesion_score,
                downscaled=image.downscaled,
            )
        return Outcome(name, body=prediction.body, downscaled=image.downscaled)


class Progress:
    """A one-line bar on stderr, drawn only for a terminal and for more than a few files."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.enabled = enabled and total >= PROGRESS_MIN_FILES and stream.isatty()

    def step(self, name: str) -> None:
        self.done += 1
        if self.enabled:
            filled = int(30 * self.done / self.total)
            label = Path(name).name[:30]
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label:<30}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


def run(
    files: list[str],
    api_url: str,
    tokens: TokenProvider,
    *,
    as_json: bool,
    workers: int,
    show_progress: bool,
    hint: str = "",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Classify `files`; print results; return the exit code. `hint` follows an unreachable sign-in."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        tokens.token()  # sign in before any file, so a wrong password is one line and nothing else
    except SignInError as exc:
        err.write(f"skinlesion: {exc}\n{hint if 'cannot reach' in str(exc) else ''}")
        return EXIT_SIGN_IN
    classifier = Classifier(api_url, tokens)
    progress = Progress(len(files), err, show_progress)
    outcomes: list[Outcome] = []
    try:
        for outcome in _classify_all(classifier, files, workers):
            progress.step(outcome.file)
            outcomes.append(outcome)
            if as_json:
                out.write(json.dumps(outcome.as_json()) + "\n")
                out.flush()
    except SignInError as exc:  # a renewal failed midway: nothing further can succeed
        progress.close()
        err.write(f"skinlesion: {exc}\n")
        return EXIT_SIGN_IN
    progress.close()
    if not as_json:
        out.write(format_table(outcomes))
        err.write(model_note(outcomes))
    failed = sum(not o.ok for o in outcomes)
    refused = sum(o.refused for o in outcomes)
    why = f" ({refused} not a skin-lesion image)" if refused else ""
    err.write(
        f"{len(outcomes) - failed} of {len(outcomes)} classified, {failed} failed{why}. "
        "Research use only: not a diagnosis.\n"
    )
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _classify_all(classifier: Classifier, files: list[str], workers: int) -> Iterator[Outcome]:
    if workers <= 1 or len(files) <= 1:
        yield from (classifier.classify(name) for name in files)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(classifier.classify, files)  # map keeps the input order


def model_note(outcomes: Iterable[Outcome]) -> str:
    """Which model answered and its threshold: a label is not "the larger percentage"."""
    body = next((o.body for o in outcomes if o.body is not None), None)
    if body is None or "threshold" not in body:
        return ""
    version = (body.get("model") or {}).get("version", "unknown")
    return (
        f"Model {version}: malignant when the malignant score is at least {100 * body['threshold']:.1f} %.\n"
    )


def format_table(outcomes: Iterable[Outcome]) -> str:
    """FILE, LABEL, MALIGNANT %, BENIGN %; a failed file shows ERROR (REFUSED for a guard refusal) and why."""
    rows = []
    for o in outcomes:
        name = o.file + (" (downscaled)" if o.downscaled else "")
        if o.ok:
            assert o.body is not None
            probs = o.body["probabilities"]
            rows.append(
                (
                    name,
                    str(o.body["label"]),
                    f"{100 * probs['malignant']:.1f} %",
                    f"{100 * probs['benign']:.1f} %",
                )
            )
        else:
            status = f"HTTP {o.status}: " if o.status is not None else ""
            rows.append((name, "REFUSED" if o.refused else "ERROR", f"{status}{o.error_message}", ""))
    header = ("FILE", "LABEL", "MALIGNANT", "BENIGN")
    width = max([len(header[0])] + [len(r[0]) for r in rows])
    lines = [f"{header[0]:<{width}}  {header[1]:<9}  {header[2]:>9}  {header[3]:>7}"]
    for name, label, malignant, benign in rows:
        if label in ("ERROR", "REFUSED"):
            lines.append(f"{name:<{width}}  {label:<9}  {malignant}")
        else:
            lines.append(f"{name:<{width}}  {label:<9}  {malignant:>9}  {benign:>7}")
    return "\n".join(lines) + "\n"
