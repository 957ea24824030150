"""Getting an ID token for the API with as little asking as possible.

Order: a token given outright (`--token`); a cached token that has not expired; a
cached refresh token; a username/password sign-in (flags, environment, the local
stack's demo user, or a prompt when a terminal is attached). The password is only
asked for when the cache cannot help; a password that is given (flag or environment)
must be the one the cached tokens were signed in with, else it signs in afresh, so a
wrong password fails even while good tokens are cached.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from skinlesion import targets
from skinlesion.client import CognitoClient, MfaPrompts, SignInError
from skinlesion.targets import Target
from skinlesion.tokens import TokenCache, cache_key

ENV_USERNAME = "SKINLESION_USERNAME"
ENV_PASSWORD = "SKINLESION_PASSWORD"
ENV_TOKEN = "SKINLESION_TOKEN"
ENV_MFA_CODE = "SKINLESION_MFA_CODE"


class TokenProvider:
    """Hands out an ID token; `invalidate()` after a 401 forces a fresh sign-in."""

    def __init__(
        self,
        *,
        cognito: CognitoClient | None,
        username: str | None,
        password: Callable[[], str],
        cache: TokenCache | None,
        new_password: Callable[[], str] | None = None,
        token: str | None = None,
        given_password: str | None = None,
        mfa: MfaPrompts | None = None,
    ) -> None:
        self._cognito = cognito
        self._username = username
        self._password = password
        self._cache = cache
        self._new_password = new_password
        self._token = token
        self._given_password = given_password  # named by the person (flag or environment)
        self._mfa = mfa

    @property
    def can_renew(self) -> bool:
        """False for a token given outright: a 401 then means the caller must get a new one."""
        return self._token is None

    def _key(self) -> str:
        assert self._cognito is not None and self._username is not None
        return cache_key(self._cognito.endpoint, self._cognito.client_id, self._username)

    def token(self) -> str:
        if self._token is not None:
            return self._token
        if self._cognito is None or self._username is None:
            raise SignInError("cannot sign in: no Cognito app client known (pass --client-id or --token)")
        cached = self._cache.get(self._key()) if self._cache else None
        if cached and self._given_password is not None and not cached.matches(self._given_password):
            cached = None  # another password than the cached tokens': Cognito must judge it
        if cached and cached.is_fresh():
            return cached.id_token
        tokens = None
        if cached and cached.refresh_token:
            try:
                tokens = replace(
                    self._cognito.refresh(cached.refresh_token), password_check=cached.password_check
                )
            except SignInError:  # refresh token expired or revoked: fall back to the password
                tokens = None
        if tokens is None:
            password = self._password()
            tokens = self._cognito.sign_in(self._username, password, self._new_password, mfa=self._mfa)
            tokens = tokens.signed_in_with(password)
        if self._cache:
            self._cache.put(self._key(), tokens)
        return tokens.id_token

    def invalidate(self) -> None:
        if self._cache and self._cognito is not None and self._username is not None:
            self._cache.delete(self._key())


def build_provider(
    target: Target,
    *,
    username: str | None,
    password: str | None,
    token: str | None,
    use_cache: bool = True,
    mfa_code: str | None = None,
) -> TokenProvider:
    """Resolve who signs in, in the documented order, without prompting until it is needed."""
    token = token or os.environ.get(ENV_TOKEN)
    if token:
        return TokenProvider(cognito=None, username=None, password=_no_password, cache=None, token=token)
    if not target.client_id or not target.cognito_endpoint:
        raise SignInError(
            "cannot sign in: no Cognito app client for this API; pass --client-id and --region, or --token"
        )
    user = username or os.environ.get(ENV_USERNAME) or target.username or _prompt_username()
    given = password or os.environ.get(ENV_PASSWORD)
    # The local stack's stack.json carries its demo user's password; use it only for that user.
    default = target.password if user == target.username else None

    def get_password() -> str:
        return given or default or _prompt_password(user)

    return TokenProvider(
        # With the pool id (every stack output and stack.json has it) sign-in speaks SRP.
        cognito=CognitoClient(target.cognito_endpoint, target.client_id, pool_id=target.user_pool_id),
        username=user,
        password=get_password,
        cache=TokenCache() if use_cache else None,
        new_password=_prompt_new_password if _interactive() else None,
        given_password=given,
        mfa=_mfa_prompts(mfa_code or os.environ.get(ENV_MFA_CODE)),
    )


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _prompt_username() -> str:
    if not _interactive():
        raise SignInError(f"sign-in needs a username: pass --username or set {ENV_USERNAME}")
    name = input("Username: ").strip()
    if not name:
        raise SignInError("sign-in needs a username")
    return name


def _prompt_password(user: str) -> str:
    if not _interactive():
        raise SignInError(f"sign-in needs a password for {user}: pass --password or set {ENV_PASSWORD}")
    return getpass.getpass(f"Password for {user}: ")


def _prompt_new_password() -> str:
    first = getpass.getpass("This account needs a new password. New password: ")
    if first != getpass.getpass("Repeat the new password: "):
        raise SignInError("sign-in failed: the two new passwords differ")
    return first


def _mfa_prompts(code: str | None) -> MfaPrompts | None:
    """A given code (`--mfa-code`), else a prompt in a terminal; None when neither can answer."""
    if code is None and not _interactive():
        return None
    given = [code] if code else []

    def ask() -> str:
        if given:
            return given.pop()
        if not _interactive():
            raise SignInError("sign-in needs another authentication code: run this command in a terminal")
        # The prompt goes to stderr: stdout may be captured (`TOKEN=$(skinlesion token)`).
        print("Authentication code from your authenticator app: ", end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip()

    return MfaPrompts(code=ask, show_secret=_show_totp_secret)


def _show_totp_secret(secret: str, uri: str) -> None:
    # Shown once, on stderr (never in the token cache or a log): the user adds it to an app now.
    print(
        "\nTwo-step verification: add this account to your authenticator app, then enter its code.\n"
        f"  Secret key:  {secret}\n"
        f"  Or open:     {uri}\n"
        "This secret is shown only now; keep it like a password.\n",
        file=sys.stderr,
    )


def _no_password() -> str:
    raise SignInError("no password needed with --token")


def target_and_tokens(a: Any, repo_root: Path) -> tuple[Target, TokenProvider]:
    """The API and a token provider from the CLI's flags, as `predict` and `batch` both find them.

    `--stack` reads a deployed stack's outputs; otherwise the local stack's stack.json, unless
    only `--api` was given and no local stack exists (the flags then say everything).
    Raises targets.TargetError for a bad target.
    """
    if a.stack:
        target = targets.from_cloudformation(a.stack, a.region)
    else:
        stack_file = a.stack_file or targets.default_stack_file(repo_root)
        use_flags = a.api and a.stack_file is None and not stack_file.exists()
        target = Target(api_url=None) if use_flags else targets.from_stack_file(stack_file)
    target = target.with_overrides(
        api_url=a.api, client_id=a.client_id, region=a.region, cognito_endpoint=a.cognito_endpoint
    )
    tokens = build_provider(
        target,
        username=a.username,
        password=a.password,
        token=a.token,
        use_cache=not a.no_cache,
        mfa_code=a.mfa_code,
    )
    return target, tokens
