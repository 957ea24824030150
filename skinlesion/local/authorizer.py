"""The Cognito user-pool authorizer, as API Gateway REST runs it, for the local gateway.

It accepts the pool's ID token from the `Authorization` header (with or without
"Bearer "), checks the RS256 signature against the pool's JWKS, the issuer, the expiry,
`token_use` and the audience (the app client id), and hands the claims on as API Gateway
does: every value a string, times as "Sun Nov 29 13:43:57 UTC 2026".

moto signs with one static key and serves the JWKS at `<moto>/<pool>/.well-known/jwks.json`
while its tokens carry the real-AWS issuer, so the JWKS URL and the issuer are separate
settings here.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import jwt

import lesion_contract as contract

_ALGORITHM = "RS256"  # Cognito signs with RS256 only; anything else (incl. "none") is refused
_JWKS_REFRESH_MIN_S = 30  # an unknown kid refetches the JWKS, at most this often
_TIME_CLAIMS = ("exp", "iat", "auth_time")


class Unauthorized(Exception):
    """The request carries no token, or one the pool's authorizer would refuse (reason inside)."""


class CognitoAuthorizer:
    """Verifies Cognito ID tokens for one user pool and app client."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        client_id: str,
        token_use: str = contract.REQUIRED_TOKEN_USE,
        leeway_s: float = 0,
    ) -> None:
        self.jwks_url, self.issuer, self.client_id = jwks_url, issuer, client_id
        self.token_use, self.leeway_s = token_use, leeway_s
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims; Unauthorized (with the reason, for logs) otherwise."""
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Unauthorized("no token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise Unauthorized(f"malformed token: {err}") from None
        if header.get("alg") != _ALGORITHM:
            raise Unauthorized(f"algorithm {header.get('alg')!r} is not {_ALGORITHM}")
        key = self._key(str(header.get("kid")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "token_use"]},
            )
        except jwt.PyJWTError as err:
            raise Unauthorized(f"{type(err).__name__}: {err}") from None
        if claims.get("token_use") != self.token_use:
            raise Unauthorized(f"token_use is {claims.get('token_use')!r}, not {self.token_use!r}")
        return claims

    def _key(self, kid: str) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > _JWKS_REFRESH_MIN_S
            if kid not in self._keys and (stale or not self._keys):
                self._keys = self._fetch()
                self._fetched_at = time.monotonic()
            if kid not in self._keys:
                raise Unauthorized(f"unknown key id {kid!r}")
            return self._keys[kid]

    def _fetch(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.jwks_url, timeout=5) as response:  # loopback URL
                document = json.load(response)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, jwt.PyJWTError) as err:
            raise Unauthorized(f"cannot read the JWKS at {self.jwks_url}: {err}") from None
        return {key.key_id: key.key for key in keys if key.key_id}


def claims_as_api_gateway(claims: dict[str, Any]) -> dict[str, str]:
    """requestContext.authorizer.claims as API Gateway fills it: strings only."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if name in _TIME_CLAIMS and isinstance(value, int | float):
            out[name] = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = "[" + ", ".join(str(v) for v in value) + "]"
        else:
            out[name] = str(value)
    return out
