"""A small on-disk cache of Cognito tokens, so repeated CLI runs do not sign in each time.

One JSON file (mode 0600, in a 0700 folder) maps "<cognito endpoint>|<client id>|<user>"
to the ID token, its expiry, the refresh token and a salted, slow hash of the password
that signed in (PBKDF2). A run that names a password (flag or environment) is served from
the cache only when that password matches, so a wrong password fails as it would without
the cache. Tokens are secrets: the file is written atomically and never readable by other users.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# Treat a token as expired a little early, so it cannot lapse between the check and the request.
EXPIRY_MARGIN_S = 60
_PBKDF2_ITERATIONS = 200_000


def default_cache_path() -> Path:
    """$SKINLESION_CACHE_DIR, else $XDG_CACHE_HOME/skinlesion, else ~/.cache/skinlesion."""
    base = os.environ.get("SKINLESION_CACHE_DIR")
    if base:
        return Path(base) / "tokens.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "skinlesion" / "tokens.json"


@dataclass(frozen=True)
class CachedTokens:
    """What one sign-in yields: the ID token the API takes, when it expires, and how to renew it."""

    id_token: str
    expires_at: float
    refresh_token: str | None = None
    password_check: str | None = None  # "<salt hex>$<PBKDF2-SHA256 hex>" of the password that signed in

    def is_fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.expires_at - EXPIRY_MARGIN_S

    def signed_in_with(self, password: str) -> CachedTokens:
        """These tokens, remembering (as a salted slow hash) the password that got them."""
        salt = secrets.token_bytes(16)
        return replace(self, password_check=f"{salt.hex()}${_derive(password, salt).hex()}")

    def matches(self, password: str) -> bool:
        """Whether `password` is the one these tokens were signed in with (False when unknown)."""
        if not self.password_check or "$" not in self.password_check:
            return False
        salt_hex, digest_hex = self.password_check.split("$", 1)
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            return False
        return hmac.compare_digest(_derive(password, salt).hex(), digest_hex)


def _derive(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)


def cache_key(cognito_endpoint: str, client_id: str, username: str) -> str:
    return f"{cognito_endpoint.rstrip('/')}|{client_id}|{username}"


class TokenCache:
    """Read and write cached tokens; a missing or corrupt file is an empty cache, never an error."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> CachedTokens | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            return CachedTokens(**entry)
        except TypeError:
            return None

    def put(self, key: str, tokens: CachedTokens) -> None:
        entries = self._load()
        entries[key] = asdict(tokens)
        self._write(entries)

    def delete(self, key: str) -> None:
        entries = self._load()
        if entries.pop(key, None) is not None:
            self._write(entries)

    def _write(self, entries: dict[str, dict]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file 0600; os.replace makes the swap atomic for concurrent runs.
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(entries, handle)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
