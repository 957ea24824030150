"""Sign-in against a real (moto) Cognito over HTTP: tokens, the cache, and clear failures."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from skinlesion import cli
from skinlesion.auth import TokenProvider
from skinlesion.client import CognitoClient, SignInError
from skinlesion.tokens import CachedTokens, TokenCache, cache_key

Cognito = Any  # the moto_cognito fixture's value (tests/cli/conftest.py)


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / "tokens.json"


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def _provider(
    cognito: Cognito, password: str | None = None, cache: TokenCache | None = None, given: str | None = None
) -> TokenProvider:
    def get_password() -> str:
        if password is None:
            raise AssertionError("the password was asked for although the cache should have answered")
        return password

    return TokenProvider(
        cognito=CognitoClient(cognito.endpoint, cognito.client_id),
        username=cognito.username,
        password=get_password,
        cache=cache if cache is not None else TokenCache(),
        given_password=given,
    )


def test_sign_in_returns_an_id_token_for_the_app_client(moto_cognito: Cognito) -> None:
    tokens = CognitoClient(moto_cognito.endpoint, moto_cognito.client_id).sign_in(
        moto_cognito.username, moto_cognito.password
    )
    claims = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert claims["token_use"] == "id"
    assert claims["aud"] == moto_cognito.client_id
    assert tokens.refresh_token
    assert tokens.expires_at > time.time() + 600


def test_token_is_cached_privately_and_reused_without_the_password(
    moto_cognito: Cognito, token_cache_dir
) -> None:
    first = _provider(moto_cognito, password=moto_cognito.password).token()
    path = cache_file(token_cache_dir)
    assert file_mode(path) == 0o600
    assert file_mode(path.parent) == 0o700
    # A second run with no password available must be served from the cache.
    assert _provider(moto_cognito, password=None).token() == first


def test_expired_token_is_renewed_with_the_refresh_token(moto_cognito: Cognito) -> None:
    cache = TokenCache()
    _provider(moto_cognito, password=moto_cognito.password, cache=cache).token()
    key = cache_key(moto_cognito.endpoint, moto_cognito.client_id, moto_cognito.username)
    stale = cache.get(key)
    assert stale is not None
    cache.put(
        key, CachedTokens(id_token="expired", expires_at=time.time() - 1, refresh_token=stale.refresh_token)
    )

    renewed = _provider(moto_cognito, password=None, cache=cache).token()

    assert renewed != "expired"
    assert jwt.decode(renewed, options={"verify_signature": False})["token_use"] == "id"
    assert cache.get(key).refresh_token == stale.refresh_token  # REFRESH_TOKEN_AUTH returns none; kept


def test_corrupt_cache_is_ignored(moto_cognito: Cognito, token_cache_dir) -> None:
    token_cache_dir.mkdir(parents=True)
    cache_file(token_cache_dir).write_text("{not json")
    assert _provider(moto_cognito, password=moto_cognito.password).token()
    assert json.loads(cache_file(token_cache_dir).read_text())  # rewritten as valid JSON


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("researcher@example.com", "wrong-password", "incorrect username or password"),
        ("nobody@example.com", "whatever-1A!", "no such user"),
    ],
)
def test_bad_credentials_raise_one_clear_line(moto_cognito: Cognito, username, password, expected) -> None:
    with pytest.raises(SignInError) as caught:
        CognitoClient(moto_cognito.endpoint, moto_cognito.client_id).sign_in(username, password)
    message = str(caught.value)
    assert expected in message.lower()
    assert "\n" not in message


def test_new_password_challenge_without_a_terminal_says_what_to_do(moto_cognito: Cognito, moto_idp) -> None:
    moto_idp.admin_create_user(
        UserPoolId=moto_cognito.user_pool_id,
        Username="fresh@example.com",
        TemporaryPassword="Temp-Passw0rd!",
        MessageAction="SUPPRESS",
    )
    client = CognitoClient(moto_cognito.endpoint, moto_cognito.client_id)
    with pytest.raises(SignInError, match="must set a new password"):
        client.sign_in("fresh@example.com", "Temp-Passw0rd!")
    # With a way to ask for the new password, the challenge is answered and tokens come back.
    tokens = client.sign_in("fresh@example.com", "Temp-Passw0rd!", new_password=lambda: "N3w-Passw0rd!")
    assert jwt.decode(tokens.id_token, options={"verify_signature": False})["cognito:username"]


def test_cli_wrong_password_prints_one_line_and_no_traceback(moto_cognito: Cognito, tmp_path, capsys) -> None:
    image = tmp_path / "lesion.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    code = cli.main(
        [
            "predict",
            str(image),
            "--api",
            "http://127.0.0.1:9/",
            "--client-id",
            moto_cognito.client_id,
            "--cognito-endpoint",
            moto_cognito.endpoint,
            "--username",
            moto_cognito.username,
            "--password",
            "not-the-password",
        ]
    )
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    assert captured.err == "skinlesion: sign-in failed: incorrect username or password\n"


def test_cli_wrong_password_fails_even_while_good_tokens_are_cached(
    moto_cognito: Cognito, tmp_path, capsys
) -> None:
    image = tmp_path / "lesion.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    args = ["predict", str(image), "--api", "http://127.0.0.1:9/", "--client-id", moto_cognito.client_id,
            "--cognito-endpoint", moto_cognito.endpoint, "--username", moto_cognito.username]  # fmt: skip
    # GIVEN a signed-in run that cached good tokens (the API itself is unreachable: exit 1)
    assert cli.main([*args, "--password", moto_cognito.password]) == 1
    capsys.readouterr()

    # WHEN the next run names a wrong password, THEN it fails as it would without the cache
    assert cli.main([*args, "--password", "not-the-password"]) == 3
    assert "incorrect username or password" in capsys.readouterr().err
    # ... while the right password is still served from the cache (no second sign-in needed)
    assert _provider(moto_cognito, password=None, given=moto_cognito.password).token()


def test_cli_unreachable_cognito_prints_one_line(tmp_path, capsys) -> None:
    code = cli.main(
        [
            "predict",
            str(tmp_path / "x.jpg"),
            "--api",
            "http://127.0.0.1:9/",
            "--client-id",
            "abc",
            "--cognito-endpoint",
            "http://127.0.0.1:9/",
            "--username",
            "u",
            "--password",
            "p",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("skinlesion: sign-in failed: cannot reach Cognito at http://127.0.0.1:9/")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_without_any_stack_or_client_says_what_to_pass(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli.main(["predict", "x.jpg", "--stack-file", str(tmp_path / "none" / "stack.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "skinlesion up" in err and "--stack" in err


def test_cli_stopped_local_stack_says_to_start_it(tmp_path, capsys) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"apiUrl": "http://127.0.0.1:9", "cognitoEndpoint": "http://127.0.0.1:9/",
                                 "userPoolClientId": "abc", "region": "us-east-1",
                                 "username": "demo@example.com", "password": "pw"}))  # fmt: skip
    code = cli.main(["predict", str(tmp_path / "x.jpg"), "--stack-file", str(stack)])
    err = capsys.readouterr().err.splitlines()
    assert code == 3
    assert err[0].startswith("skinlesion: sign-in failed: cannot reach Cognito at http://127.0.0.1:9/")
    assert err[1] == f"Is the local stack running? (addresses from {stack}; start it: `skinlesion up`)"
