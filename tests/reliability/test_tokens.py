"""Tokens the API must refuse: each gets 401 from the local gateway, with the JSON body and CORS.

Where it can, a refused token is a *real* one from the local Cognito (an access token, an ID
token from a second app client, one from a second user pool); the rest are forged with
moto's own signing key (shipped inside moto) so that exactly one property is wrong: expired,
wrong issuer, unknown key id, no token_use, a tampered payload. A fresh RSA key, `alg: none`
and HS256 keyed with the public key (algorithm confusion) test the signature check itself.
Every case runs on each protected route; the demo user's real ID token is the control. No
token sent during the module (refused or not) may appear in the stack's logs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import boto3
import jwt
import moto
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import lesion_contract as contract

from . import images, wire
from .logcapture import LogCapture
from .summary import record

pytestmark = pytest.mark.e2e
PROTECTED = (("POST", contract.ROUTE_PREDICT), ("GET", contract.ROUTE_MODEL))
UNAUTHORIZED = {"code": contract.ERROR_CODES[401], "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE}
REJECTED: set[tuple[str, str]] = set()
TOKENS_SENT: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _logs_and_counts(local_stack):
    capture = LogCapture(local_stack)
    yield
    logged = capture.text()
    # Refused or not, a token is a credential: no part that carries its signature may be logged.
    tails = {case: value.split()[-1][-40:] for case, value in TOKENS_SENT.items() if len(value) > 40}
    leaked = [case for case, tail in tails.items() if tail in logged]
    assert not leaked, f"tokens in the stack's logs: {leaked}"
    kinds = {case for case, _ in REJECTED}
    record(
        "tokens",
        f"{len(kinds)} token kinds refused with 401 on {len(PROTECTED)} routes ({len(REJECTED)} requests)",
    )


def moto_private_key() -> Any:
    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK.from_dict(json.loads(gzip.decompress(path.read_bytes()))).key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def idp(stack: dict[str, Any]) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=stack["cognitoEndpoint"],
        region_name=stack["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def token_from_another_client(stack: dict[str, Any]) -> str:
    """A genuine ID token of the same pool and user, issued to a second app client."""
    client = idp(stack).create_user_pool_client(
        UserPoolId=stack["userPoolId"],
        ClientName="reliability-other-client",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return wire.sign_in({**stack, "userPoolClientId": client})["IdToken"]


def token_from_another_pool(stack: dict[str, Any]) -> str:
    """A genuine ID token from a second user pool (same moto key, another issuer and audience)."""
    cognito = idp(stack)
    pool = cognito.create_user_pool(PoolName="reliability-other-pool")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    user, password = "intruder@example.com", "Intruder-Pass-2026!"
    cognito.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=user, Password=password, Permanent=True)
    other = {**stack, "userPoolClientId": client, "username": user, "password": password}
    return wire.sign_in(other)["IdToken"]


@pytest.fixture(scope="module")
def tokens(local_stack: dict[str, Any], id_token: str) -> dict[str, str]:
    """name -> the full Authorization header value to send (None: no header at all)."""
    real = wire.sign_in(local_stack)
    claims = jwt.decode(id_token, options={"verify_signature": False})
    key, now = moto_private_key(), int(time.time())

    def forged(headers: dict | None = None, signer: Any = key, **changes: Any) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return jwt.encode(body, signer, algorithm="RS256", headers={"kid": "dummy", **(headers or {})})

    head, payload, signature = id_token.split(".")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fresh_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_NotThisPool"
    unsigned = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + payload + "."
    tampered = {**claims, "cognito:username": "admin", "sub": "00000000-0000-0000-0000-000000000000"}
    return {
        "missing": None,
        "empty_bearer": "Bearer ",
        "not_a_jwt": "Bearer not-a-jwt",
        "basic_auth": "Basic " + base64.b64encode(b"demo@example.com:Lesion-Demo-2026!").decode(),
        "two_segments": f"Bearer {head}.{payload}",
        "garbage_segments": "Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl",
        "trailing_garbage": f"Bearer {id_token}x",
        "expired": "Bearer " + forged(exp=now - 60, iat=now - 3660, auth_time=now - 3660),
        "signed_by_another_key": "Bearer " + forged(signer=fresh_key),
        "unknown_kid": "Bearer " + forged(headers={"kid": "not-the-pool-key"}),
        "alg_none": "Bearer " + unsigned,
        "hs256_with_public_key": "Bearer " + _hs256(claims, public_pem),
        "wrong_issuer": "Bearer " + forged(iss=other_issuer),
        "no_token_use": "Bearer " + forged(token_use=None),
        "tampered_payload": f"Bearer {head}.{b64url(json.dumps(tampered).encode())}.{signature}",
        "access_token": f"Bearer {real['AccessToken']}",
        "refresh_token": f"Bearer {real['RefreshToken']}",
        "another_client": "Bearer " + token_from_another_client(local_stack),
        "another_pool": "Bearer " + token_from_another_pool(local_stack),
    }


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    # PyJWT refuses a PEM as an HMAC key (that refusal is the point), so sign by hand.
    header = b64url(json.dumps({"alg": "HS256", "kid": "dummy"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


CASES = [
    "missing",
    "empty_bearer",
    "not_a_jwt",
    "basic_auth",
    "two_segments",
    "garbage_segments",
    "trailing_garbage",
    "expired",
    "signed_by_another_key",
    "unknown_kid",
    "alg_none",
    "hs256_with_public_key",
    "wrong_issuer",
    "no_token_use",
    "tampered_payload",
    "access_token",
    "refresh_token",
    "another_client",
    "another_pool",
]


def call(stack: dict[str, Any], method: str, route: str, authorization: str | None) -> wire.Reply:
    headers: dict[str, str | bytes] = {"Origin": stack["webUrl"]}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = b""
    if method == "POST":
        headers["Content-Type"] = "image/jpeg"
        body = images.jpeg()
    return wire.send(wire.join(stack["apiUrl"], route), method=method, body=body, headers=headers)


@pytest.mark.parametrize("method,route", PROTECTED)
@pytest.mark.parametrize("case", CASES)
def test_token_is_refused_with_401_json_and_cors(
    local_stack, tokens, case: str, method: str, route: str
) -> None:
    reply = call(local_stack, method, route, tokens[case])
    TOKENS_SENT[case] = tokens[case] or ""
    assert reply.status == 401, f"{case} on {method} {route}: {reply.status} {reply.body[:200]!r}"
    body = reply.json()
    assert body["error"] == UNAUTHORIZED
    assert isinstance(body["requestId"], str) and body["requestId"]
    assert reply.headers.get("access-control-allow-origin") == local_stack["webUrl"]
    assert (tokens[case] or "ZZZ").split()[-1] not in reply.body.decode(), "the token is echoed back"
    REJECTED.add((case, route))


@pytest.mark.parametrize("method,route", PROTECTED)
@pytest.mark.parametrize("prefix", ["Bearer ", ""])
def test_the_real_id_token_is_accepted(
    local_stack, id_token: str, prefix: str, method: str, route: str
) -> None:
    # The control: the same requests with the demo user's ID token succeed, with or without
    # "Bearer " (API Gateway's Cognito authorizer takes the raw token too).
    reply = call(local_stack, method, route, prefix + id_token)
    assert reply.status == 200, reply.body[:300]


def test_token_in_the_query_string_is_not_accepted(local_stack, id_token: str) -> None:
    reply = call(local_stack, "GET", f"{contract.ROUTE_MODEL}?access_token={id_token}", None)
    assert reply.status == 401
