"""The local Cognito answers browsers from the local web page only (docs/security.md).

moto alone grants CORS to every origin: any page open in the browser while `make up` runs
could sign in to the local pool and call its admin API.
"""

from __future__ import annotations

import json

import pytest
import requests

from skinlesion.local.idp import CognitoServer, create_user_pool, sign_in

WEB = "http://127.0.0.1:8080"
FOREIGN = "https://attacker.example"
TARGET = "AWSCognitoIdentityProviderService.InitiateAuth"


@pytest.fixture(scope="module")
def pool():
    server = CognitoServer(port=0, allowed_origins=[WEB]).start()
    yield create_user_pool(server.url)
    server.stop()


def _initiate_auth(pool, origin: str | None) -> requests.Response:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    if origin:
        headers["Origin"] = origin
    body = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": pool.client_id,
        "AuthParameters": {"USERNAME": pool.username, "PASSWORD": pool.password},
    }
    return requests.post(pool.endpoint + "/", data=json.dumps(body), headers=headers, timeout=10)


def _preflight(pool, origin: str) -> requests.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target",
    }
    return requests.options(pool.endpoint + "/", headers=headers, timeout=10)


def test_a_foreign_origin_gets_no_cors_grant_and_no_answer(pool):
    preflight = _preflight(pool, FOREIGN)
    request = _initiate_auth(pool, FOREIGN)

    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in request.headers
    assert request.status_code == 403 and "AuthenticationResult" not in request.text


def test_the_local_web_page_gets_its_own_origin_back(pool):
    preflight = _preflight(pool, WEB)
    request = _initiate_auth(pool, WEB)

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == WEB
    assert "x-amz-target" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert request.status_code == 200 and "AuthenticationResult" in request.json()
    assert request.headers["Access-Control-Allow-Origin"] == WEB  # never "*"


def test_clients_without_an_origin_still_sign_in(pool):
    assert _initiate_auth(pool, None).status_code == 200
    assert sign_in(pool.endpoint, pool.client_id, pool.username, pool.password)["IdToken"]
