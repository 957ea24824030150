"""The CLI's sign-in as the cloud app client demands it: SRP (no password on the wire), then
TOTP MFA (a code, or enrolment with the secret shown once), and refresh with rotation."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from botocore.stub import ANY, Stubber

from skinlesion import srp
from skinlesion.client import CognitoClient, MfaPrompts, SignInError
from skinlesion.local.idp import CognitoServer, create_user_pool

VECTORS = Path(__file__).resolve().parents[2] / "web" / "src" / "test" / "fixtures" / "srp_vectors.json"
AWS = "https://cognito-idp.eu-west-1.amazonaws.com/"
POOL = "eu-west-1_Pool"
USER_ID = "6c1f2a4e-0b7d-4f55-9a0e-3d2b1c0a9f88"
S1, S2, S3 = ("session-1-" + "x" * 20, "session-2-" + "x" * 20, "session-3-" + "x" * 20)
RESULT = {"IdToken": "id.token.x", "AccessToken": "a", "RefreshToken": "refresh-1", "ExpiresIn": 3600}


def _vectors() -> list[dict[str, str]]:
    if not VECTORS.exists():
        pytest.skip(f"the SRP reference vectors are missing ({VECTORS})")
    return json.loads(VECTORS.read_text())["vectors"]


def test_srp_claims_match_the_reference_vectors_the_web_page_is_held_to() -> None:
    vectors = _vectors()
    assert len(vectors) >= 12
    for v in vectors:
        session = srp.SrpSession(v["userPoolId"], small_a=int(v["smallA"], 16))
        claim = session.claim(
            user_id=v["userIdForSrp"],
            password=v["password"],
            salt_hex=v["salt"],
            srp_b_hex=v["srpB"],
            secret_block=v["secretBlock"],
            when=datetime.fromisoformat(v["date"].replace("Z", "+00:00")),
        )
        assert session.large_a_hex == v["largeA"]
        assert (claim.timestamp, claim.signature) == (v["timestamp"], v["signature"]), v["userIdForSrp"]


@pytest.fixture(scope="module")
def local_pool():
    """The local stack's Cognito (moto, which speaks USER_SRP_AUTH) with its demo user."""
    server = CognitoServer(port=0).start()
    yield create_user_pool(server.url)
    server.stop()


def test_srp_signs_in_to_the_local_stacks_cognito_without_sending_the_password(local_pool) -> None:
    # moto speaks USER_SRP_AUTH but does not check the proof: the math is held to the vectors above.
    # srp=True: against a local endpoint the CLI would use USER_PASSWORD_AUTH, as the web page does
    client = CognitoClient(local_pool.endpoint, local_pool.client_id, pool_id=local_pool.pool_id, srp=True)
    sent: list[bytes] = []
    client._idp.meta.events.register(
        "before-send.cognito-idp.*", lambda request, **_: sent.append(request.body)
    )

    tokens = client.sign_in(local_pool.username, local_pool.password)

    claims = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert claims["token_use"] == "id" and claims["aud"] == local_pool.client_id
    bodies = [json.loads(body) for body in sent]
    assert bodies[0]["AuthFlow"] == "USER_SRP_AUTH" and "SRP_A" in bodies[0]["AuthParameters"]
    assert bodies[1]["ChallengeName"] == "PASSWORD_VERIFIER"
    assert all(local_pool.password.encode() not in body for body in sent)


def _stubbed(*, pool_id: str | None = POOL) -> tuple[CognitoClient, Stubber]:
    client = CognitoClient(AWS, "client-1", pool_id=pool_id)
    return client, Stubber(client._idp)


def _password_verifier(stub: Stubber, next_answer: dict[str, Any]) -> None:
    v = _vectors()[0]
    stub.add_response(
        "initiate_auth",
        {
            "ChallengeName": "PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "SALT": v["salt"],
                "SRP_B": v["srpB"],
                "SECRET_BLOCK": v["secretBlock"],
                "USER_ID_FOR_SRP": USER_ID,
                "USERNAME": USER_ID,
            },
        },
        {
            "AuthFlow": "USER_SRP_AUTH",
            "ClientId": "client-1",
            "AuthParameters": {"USERNAME": "ana@example.org", "SRP_A": ANY},
        },
    )
    stub.add_response(
        "respond_to_auth_challenge",
        next_answer,
        {
            "ChallengeName": "PASSWORD_VERIFIER",
            "ClientId": "client-1",
            "ChallengeResponses": {
                "USERNAME": USER_ID,
                "PASSWORD_CLAIM_SECRET_BLOCK": v["secretBlock"],
                "PASSWORD_CLAIM_SIGNATURE": ANY,
                "TIMESTAMP": ANY,
            },
        },
    )


def test_software_token_mfa_asks_for_the_code_and_sends_it(monkeypatch) -> None:
    client, stub = _stubbed()
    _password_verifier(
        stub, {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": S1, "ChallengeParameters": {}}
    )
    stub.add_response(
        "respond_to_auth_challenge",
        {"AuthenticationResult": RESULT},
        {
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "ClientId": "client-1",
            "Session": S1,
            "ChallengeResponses": {"USERNAME": "ana@example.org", "SOFTWARE_TOKEN_MFA_CODE": "123456"},
        },
    )
    asked: list[str] = []
    mfa = MfaPrompts(code=lambda: asked.append("code") or "123 456", show_secret=lambda s, u: asked.append(s))

    with stub:
        tokens = client.sign_in("ana@example.org", "a password", mfa=mfa)
        stub.assert_no_pending_responses()

    assert tokens.id_token == "id.token.x" and tokens.refresh_token == "refresh-1"
    assert asked == ["code"]  # no secret shown for a user who has MFA already


def test_mfa_setup_shows_the_secret_once_verifies_a_first_code_and_signs_in() -> None:
    client, stub = _stubbed()
    _password_verifier(stub, {"ChallengeName": "MFA_SETUP", "Session": S1, "ChallengeParameters": {}})
    stub.add_response(
        "associate_software_token", {"SecretCode": "JBSWY3DPEHPK3PXP", "Session": S2}, {"Session": S1}
    )
    stub.add_response(
        "verify_software_token",
        {"Status": "SUCCESS", "Session": S3},
        {"Session": S2, "UserCode": "654321", "FriendlyDeviceName": "skinlesion CLI"},
    )
    stub.add_response(
        "respond_to_auth_challenge",
        {"AuthenticationResult": RESULT},
        {
            "ChallengeName": "MFA_SETUP",
            "ClientId": "client-1",
            "Session": S3,
            "ChallengeResponses": {"USERNAME": "ana@example.org"},
        },
    )
    shown: list[tuple[str, str]] = []
    mfa = MfaPrompts(code=lambda: "654321", show_secret=lambda secret, uri: shown.append((secret, uri)))

    with stub:
        tokens = client.sign_in("ana@example.org", "a password", mfa=mfa)
        stub.assert_no_pending_responses()

    assert tokens.id_token == "id.token.x"
    assert shown == [
        (
            "JBSWY3DPEHPK3PXP",
            "otpauth://totp/SkinLesion%3Aana%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=SkinLesion",
        )
    ]


def test_mfa_without_a_way_to_ask_fails_with_what_to_pass() -> None:
    client, stub = _stubbed()
    _password_verifier(
        stub, {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": S1, "ChallengeParameters": {}}
    )
    with stub, pytest.raises(SignInError, match="--mfa-code"):
        client.sign_in("ana@example.org", "a password", mfa=None)


def test_the_cli_speaks_srp_to_aws_and_password_auth_to_the_local_stack(local_pool) -> None:
    assert CognitoClient(AWS, "c", pool_id=POOL).srp is True
    assert CognitoClient(local_pool.endpoint, "c", pool_id=local_pool.pool_id).srp is False
    assert CognitoClient(AWS, "c").srp is False  # no pool id: SRP cannot be computed


def test_a_malformed_code_is_refused_before_cognito_sees_it() -> None:
    client, stub = _stubbed()
    _password_verifier(
        stub, {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": S1, "ChallengeParameters": {}}
    )
    mfa = MfaPrompts(code=lambda: "12ab56", show_secret=lambda s, u: None)
    with stub, pytest.raises(SignInError, match="6 digits"):
        # (a RespondToAuthChallenge here would hit the Stubber unqueued: an AssertionError, not this)
        client.sign_in("ana@example.org", "a password", mfa=mfa)


def test_refresh_against_aws_uses_get_tokens_from_refresh_token_and_keeps_the_rotated_token() -> None:
    client, stub = _stubbed()
    stub.add_response(
        "get_tokens_from_refresh_token",
        {"AuthenticationResult": {**RESULT, "RefreshToken": "refresh-2"}},
        {"ClientId": "client-1", "RefreshToken": "refresh-1"},
    )
    with stub:
        tokens = client.refresh("refresh-1")
    assert tokens.refresh_token == "refresh-2"
