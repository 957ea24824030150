"""`skinlesion token`: an ID token on stdout for curl, the password never an argument."""

from __future__ import annotations

import io
import json

import boto3
import jwt
import pytest

from skinlesion import cli
from skinlesion.local.idp import CognitoServer, create_user_pool

OTHER, OTHER_PASSWORD = "other@example.org", "Other-Pass-2026!"


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory):
    server = CognitoServer(port=0).start()
    pool = create_user_pool(server.url)
    idp = boto3.client("cognito-idp", endpoint_url=pool.endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    idp.admin_create_user(UserPoolId=pool.pool_id, Username=OTHER, MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool.pool_id, Username=OTHER, Password=OTHER_PASSWORD, Permanent=True
    )
    path = tmp_path_factory.mktemp("stack") / "stack.json"
    path.write_text(json.dumps({
        "apiUrl": "http://127.0.0.1:9", "region": "us-east-1", "userPoolId": pool.pool_id,
        "userPoolClientId": pool.client_id, "cognitoEndpoint": pool.endpoint,
        "username": pool.username, "password": pool.password,
    }))  # fmt: skip
    yield path, pool
    server.stop()


def _claims(out: str) -> dict:
    return jwt.decode(out.strip(), options={"verify_signature": False})


def test_prints_an_id_token_for_the_local_demo_user(stack_file, capsys) -> None:
    path, pool = stack_file
    assert cli.main(["token", "--stack-file", str(path), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # the token alone: `TOKEN=$(skinlesion token)` captures it
    claims = _claims(out)
    assert (claims["token_use"], claims["aud"], claims["email"]) == ("id", pool.client_id, pool.username)


def test_reads_another_users_password_from_standard_input(stack_file, capsys, monkeypatch) -> None:
    path, _ = stack_file
    monkeypatch.setattr("sys.stdin", io.StringIO(OTHER_PASSWORD + "\n"))
    assert cli.main(["token", "--stack-file", str(path), "--username", OTHER, "--no-cache"]) == 0
    assert _claims(capsys.readouterr().out)["email"] == OTHER


def test_has_no_password_flag(stack_file, capsys) -> None:
    path, _ = stack_file
    with pytest.raises(SystemExit):
        cli.main(["token", "--stack-file", str(path), "--password", OTHER_PASSWORD])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_wrong_password_is_exit_3(stack_file, capsys, monkeypatch) -> None:
    path, _ = stack_file
    monkeypatch.setattr("sys.stdin", io.StringIO("Wrong-Pass-2026!\n"))
    assert cli.main(["token", "--stack-file", str(path), "--username", OTHER, "--no-cache"]) == 3
    assert capsys.readouterr().out == ""
