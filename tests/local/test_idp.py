"""Local sign-in (moto Cognito) and the authorizer, without the rest of the stack."""

from __future__ import annotations

import jwt
import pytest
import requests

from skinlesion.client import cognito_idp
from skinlesion.local.authorizer import CognitoAuthorizer, Unauthorized
from skinlesion.local.idp import CognitoServer, SignInFailed, create_user_pool, sign_in


@pytest.fixture(scope="module")
def pool():
    server = CognitoServer(port=0, allowed_origins=["http://127.0.0.1:8080"]).start()
    yield create_user_pool(server.url)
    server.stop()


@pytest.fixture(scope="module")
def authorizer(pool) -> CognitoAuthorizer:
    return CognitoAuthorizer(jwks_url=pool.jwks_url, issuer=pool.issuer, client_id=pool.client_id)


def test_demo_user_signs_in_and_its_id_token_passes_the_authorizer(pool, authorizer):
    tokens = sign_in(pool.endpoint, pool.client_id, pool.username, pool.password)
    claims = authorizer.verify(f"Bearer {tokens['IdToken']}")
    assert claims["token_use"] == "id" and claims["aud"] == pool.client_id
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert claims["email"] == pool.username


def test_wrong_password_is_refused_with_cognitos_reason(pool):
    with pytest.raises(SignInFailed, match="NotAuthorizedException"):
        sign_in(pool.endpoint, pool.client_id, pool.username, "Wrong-Password-1!")


def test_refresh_token_gives_a_new_valid_id_token(pool, authorizer):
    refresh = sign_in(pool.endpoint, pool.client_id, pool.username, pool.password)["RefreshToken"]
    answer = cognito_idp(pool.endpoint).initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH", ClientId=pool.client_id, AuthParameters={"REFRESH_TOKEN": refresh}
    )
    assert authorizer.verify(answer["AuthenticationResult"]["IdToken"])["token_use"] == "id"


def test_browser_preflight_to_cognito_is_allowed(pool):
    response = requests.options(
        pool.endpoint,
        headers={"Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-amz-target"},
        timeout=10,
    )  # fmt: skip
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"
    assert "x-amz-target" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer a.b", "Basic dXNlcjpwYXNz"])
def test_missing_or_malformed_authorization_is_refused(authorizer, header):
    with pytest.raises(Unauthorized):
        authorizer.verify(header)


def test_access_token_is_refused_for_the_api(pool, authorizer):
    access = sign_in(pool.endpoint, pool.client_id, pool.username, pool.password)["AccessToken"]
    assert jwt.decode(access, options={"verify_signature": False})["token_use"] == "access"
    with pytest.raises(Unauthorized, match="token_use|aud"):
        authorizer.verify(access)
