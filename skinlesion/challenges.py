"""The sign-in steps after (and including) the password proof, for `CognitoClient.sign_in`.

- PASSWORD_VERIFIER: USER_SRP_AUTH's proof (skinlesion/srp.py).
- NEW_PASSWORD_REQUIRED: an admin-created user sets a password (prompted in a terminal).
- SOFTWARE_TOKEN_MFA: the 6-digit code from the user's authenticator app (`--mfa-code` or a prompt).
- MFA_SETUP: the pool requires MFA and the user has none yet: AssociateSoftwareToken, the
  secret and its otpauth:// URI shown once, VerifySoftwareToken with a first code, then the
  challenge's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from skinlesion.srp import SrpError, SrpSession

if TYPE_CHECKING:
    from skinlesion.client import CognitoClient, MfaPrompts

ISSUER = "SkinLesion"  # what authenticator apps show above the code
_CODE = re.compile(r"^\d{6}$")
Step = Callable[..., dict[str, Any]]


def _error(message: str) -> Exception:
    from skinlesion.client import SignInError

    return SignInError(message)


def srp_sign_in(client: CognitoClient, username: str, password: str) -> dict[str, Any]:
    """InitiateAuth USER_SRP_AUTH, then the PASSWORD_VERIFIER proof; Cognito's next answer."""
    assert client.pool_id is not None
    try:
        session = SrpSession(client.pool_id)
    except SrpError as err:
        raise _error(f"sign-in failed: {err}") from None
    body = client.call(
        "initiate_auth",
        AuthFlow="USER_SRP_AUTH",
        ClientId=client.client_id,
        AuthParameters={"USERNAME": username, "SRP_A": session.large_a_hex},
    )
    if body.get("ChallengeName") != "PASSWORD_VERIFIER":
        return body
    params = body.get("ChallengeParameters") or {}
    user_id = params.get("USER_ID_FOR_SRP", username)
    try:
        claim = session.claim(
            user_id=user_id,
            password=password,
            salt_hex=params["SALT"],
            srp_b_hex=params["SRP_B"],
            secret_block=params["SECRET_BLOCK"],
            when=datetime.now(UTC),
        )
    except (KeyError, ValueError) as err:
        raise _error(f"sign-in failed: Cognito's SRP challenge is unusable ({err})") from None
    return client.respond(
        "PASSWORD_VERIFIER",
        body,
        {
            "USERNAME": user_id,
            "PASSWORD_CLAIM_SECRET_BLOCK": claim.secret_block,
            "PASSWORD_CLAIM_SIGNATURE": claim.signature,
            "TIMESTAMP": claim.timestamp,
        },
    )


def _challenge_user(body: dict[str, Any], username: str) -> str:
    params = body.get("ChallengeParameters") or {}
    return str(params.get("USER_ID_FOR_SRP") or params.get("USERNAME") or username)


def new_password_required(
    client: CognitoClient,
    body: dict[str, Any],
    username: str,
    new_password: Callable[[], str] | None,
    mfa: MfaPrompts | None,
) -> dict[str, Any]:
    if new_password is None:
        raise _error(
            "sign-in failed: this account must set a new password first "
            "(sign in once on the web page, or run this command in a terminal)"
        )
    responses = {"USERNAME": _challenge_user(body, username), "NEW_PASSWORD": new_password()}
    return client.respond("NEW_PASSWORD_REQUIRED", body, responses)


def _code(mfa: MfaPrompts | None) -> str:
    if mfa is None:
        raise _error(
            "sign-in failed: this account uses two-step verification; pass --mfa-code with the "
            "6-digit code from your authenticator app, or run this command in a terminal"
        )
    code = mfa.code().strip().replace(" ", "")
    if not _CODE.match(code):
        raise _error("sign-in failed: the authentication code is the 6 digits your authenticator app shows")
    return code


def software_token_mfa(
    client: CognitoClient,
    body: dict[str, Any],
    username: str,
    new_password: Callable[[], str] | None,
    mfa: MfaPrompts | None,
) -> dict[str, Any]:
    responses = {"USERNAME": _challenge_user(body, username), "SOFTWARE_TOKEN_MFA_CODE": _code(mfa)}
    return client.respond("SOFTWARE_TOKEN_MFA", body, responses)


def otpauth_uri(secret: str, username: str) -> str:
    """What an authenticator app scans or takes: otpauth://totp/<issuer>:<user>?secret=…&issuer=…"""
    label = quote(f"{ISSUER}:{username}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={ISSUER}"


def mfa_setup(
    client: CognitoClient,
    body: dict[str, Any],
    username: str,
    new_password: Callable[[], str] | None,
    mfa: MfaPrompts | None,
) -> dict[str, Any]:
    if mfa is None:
        raise _error(
            "sign-in failed: this account must set up two-step verification first; run this command "
            "in a terminal (it shows the secret for your authenticator app) or use the web page"
        )
    association = client.call("associate_software_token", Session=body.get("Session", ""))
    secret = association["SecretCode"]
    mfa.show_secret(secret, otpauth_uri(secret, username))
    verified = client.call(
        "verify_software_token",
        Session=association.get("Session", ""),
        UserCode=_code(mfa),
        FriendlyDeviceName="skinlesion CLI",
    )
    if verified.get("Status") != "SUCCESS":
        raise _error("sign-in failed: Cognito did not accept that code; sign in again with a fresh one")
    return client.respond("MFA_SETUP", verified, {"USERNAME": _challenge_user(body, username)})


CHALLENGES: dict[str, Step] = {
    "NEW_PASSWORD_REQUIRED": new_password_required,
    "SOFTWARE_TOKEN_MFA": software_token_mfa,
    "MFA_SETUP": mfa_setup,
}
