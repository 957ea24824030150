"""Local mode of `skinlesion batch`: every file of a folder through the API, a few at a time.

`--workers` requests run at once (one HTTP session per worker, one shared sign-in).
Throttling and a busy model (429, 502, 503, 504, a refused connection) are retried with
exponential backoff and jitter, honouring Retry-After; prediction has no side effects,
so a retry can never count twice. Rows are written as files finish (batch_output).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import requests

import lesion_contract as contract
from skinlesion.auth import TokenProvider
from skinlesion.batch_output import REFUSAL_CODE, Row, row_from_answer
from skinlesion.client import API_READ_TIMEOUT_S, CONNECT_TIMEOUT_S, SignInError
from skinlesion.images import ImageFileError, read_image

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 20.0
# The provider may read a cache file or even sign in on each call (--no-cache): reuse its token
# this long; an expiry in between is a 401, answered by one renewal.
TOKEN_REUSE_S = 300.0
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp"})


def list_images(folder: Path, *, all_files: bool = False) -> list[str]:
    """Image files under `folder` (recursive, sorted), as POSIX paths relative to it. Hidden files skip."""
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if all_files or path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(rel.as_posix())
    return sorted(found)


class TokenRefused(SignInError):
    """The API answers 401 even to a fresh token; no file can succeed."""


class _Answer:
    def __init__(self, status: int | None, body: Any, text: str = "", retry_after: float | None = None):
        self.status, self.body, self.text, self.retry_after = status, body, text, retry_after


class Scorer:
    """Scores one file (path relative to `root`) into a Row; never raises for a bad file or answer."""

    def __init__(
        self,
        root: Path,
        api_url: str,
        tokens: TokenProvider,
        *,
        retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        token: str | None = None,
    ) -> None:
        self.root, self.url = root, api_url.rstrip("/") + "/predict"
        self.tokens, self.retries, self.sleep = tokens, retries, sleep or time.sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        self._memo = None if token is None else (token, time.monotonic())  # the sign-in already done

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    _memo: tuple[str, float] | None

    def _token(self) -> str:
        """The shared ID token, asked of the provider at most every TOKEN_REUSE_S (it may sign in)."""
        with self._lock:  # one sign-in or refresh at a time, shared by all workers
            if self._memo is None or time.monotonic() - self._memo[1] > TOKEN_REUSE_S:
                self._memo = (self.tokens.token(), time.monotonic())
            return self._memo[0]

    def _renew(self, refused: str) -> None:
        """After a 401 for `refused`: drop it (once, however many workers saw the 401)."""
        with self._lock:
            if self._memo is not None and self._memo[0] == refused:
                self.tokens.invalidate()
                self._memo = None

    def score(self, rel: str) -> Row:
        try:
            image = read_image(self.root / rel)
        except ImageFileError as exc:
            return Row(rel, error_code="file_error", error_message=str(exc))
        token = self._token()
        answer = self._post_with_retries(image.data, image.content_type, token)
        if answer.status == 401 and self.tokens.can_renew:  # expired or revoked: sign in again once
            self._renew(token)
            answer = self._post_with_retries(image.data, image.content_type, self._token())
        if answer.status == 401:  # every other file would fail the same way: stop the run
            raise TokenRefused("the API refuses the ID token (HTTP 401): sign in again or pass a new --token")
        return _row(rel, answer)

    def _post_with_retries(self, data: bytes, content_type: str, token: str) -> _Answer:
        for attempt in range(self.retries + 1):
            answer = self._post(data, content_type, token)
            transient = answer.status is None or answer.status in RETRY_STATUSES
            if not transient or attempt == self.retries:
                return answer
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311
            self.sleep(max(delay, answer.retry_after or 0.0))
        raise AssertionError("unreachable")

    def _post(self, data: bytes, content_type: str, token: str) -> _Answer:
        headers = {
            "Content-Type": content_type,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        }
        try:
            response = self._session().post(
                self.url, data=data, headers=headers, timeout=(CONNECT_TIMEOUT_S, API_READ_TIMEOUT_S)
            )
        except requests.Timeout:
            return _Answer(None, None, "timed out")
        except requests.RequestException as exc:
            return _Answer(None, None, f"cannot reach the API at {self.url} ({type(exc).__name__})")
        try:
            body = response.json()
        except ValueError:
            body = None
        return _Answer(response.status_code, body, response.text, _retry_after(response))


def _retry_after(response: requests.Response) -> float | None:
    try:
        return min(BACKOFF_MAX_S, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _row(rel: str, answer: _Answer) -> Row:
    body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
    if answer.status == 200:
        try:
            return row_from_answer(rel, body)
        except (KeyError, TypeError, ValueError):
            return Row(rel, error_code="bad_answer", error_message="200 without label and probabilities")
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = error.get("code") or _code_for(answer.status)
    message = str(error.get("message") or body.get("message") or answer.text.strip()[:200] or "no details")
    if code == REFUSAL_CODE:
        score = _number(body.get("lesionScore"))
        return Row(rel, refused=True, lesion_score=score, error_message=message)
    return Row(rel, error_code=str(code), error_message=message)


def _number(value: Any) -> float | None:
    """A score from the API, or None when it is missing or not a number (never an exception)."""
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _code_for(status: int | None) -> str:
    """The contract's code for a status when the body carries none (e.g. API Gateway's own 429)."""
    if status is None:
        return "unreachable"
    return contract.ERROR_CODES.get(status, "http_error")


def score_all(scorer: Scorer, files: Iterable[str], workers: int, sink: Callable[[Row], None]) -> None:
    """Score `files`, `workers` at a time; each row goes to `sink` in its worker as the file finishes.

    Writing in the worker (under a lock) means a finished request always leaves its row,
    whatever the main thread is doing when Ctrl-C arrives. On Ctrl-C, files not yet
    started are dropped and the ones in flight finish (and are written) before
    KeyboardInterrupt propagates. A SignInError from a worker (sign-in renewal failed,
    token refused) ends the run the same way.
    """
    lock = threading.Lock()

    def work(name: str) -> None:
        row = scorer.score(name)
        with lock:
            sink(row)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        running: set[Future[None]] = set()
        try:
            for name in files:
                running.add(pool.submit(work, name))
                if len(running) >= 2 * workers:  # bounded: 10,000 files are not 10,000 futures
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    _raise_first(done)
            _raise_first(wait(running)[0])
        except BaseException:
            for future in running:
                future.cancel()
            wait(running)
            raise


def _raise_first(done: Iterable[Future[None]]) -> None:
    for future in done:
        future.result()
