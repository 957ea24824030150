"""Cognito: email sign-in, a strong explicit password policy, a secretless client with the agreed flows."""

from __future__ import annotations

from typing import Any

from .helpers import SynthFn, one


def test_user_pool_signs_in_by_email_with_a_strong_password_policy(template: Any) -> None:
    pool = one(template, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["UsernameAttributes"] == ["email"]
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireUppercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": 3,
    }
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["DeletionPolicy"] == "Delete"


def test_self_sign_up_is_switchable(synth: SynthFn) -> None:
    pool = one(synth(selfSignUp="true")[1], "AWS::Cognito::UserPool")
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False


def test_mfa_is_required_and_totp_only_by_default(template: Any) -> None:
    props = one(template, "AWS::Cognito::UserPool")["Properties"]
    assert props["MfaConfiguration"] == "ON"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]  # no SMS: no SIM-swap, no per-message cost


def test_mfa_optional_relaxes_it_for_demos(synth: SynthFn) -> None:
    props = one(synth(model="bundled", mfa="optional")[1], "AWS::Cognito::UserPool")["Properties"]
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_app_client_has_no_secret_and_allows_srp_only(template: Any) -> None:
    # The password never leaves the client: USER_PASSWORD_AUTH is the local stack's alone, and
    # REFRESH_TOKEN_AUTH gives way to GetTokensFromRefreshToken with rotation.
    client = one(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False
    assert client["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH"]


def test_refresh_tokens_last_one_day_and_rotate(template: Any) -> None:
    client = one(template, "AWS::Cognito::UserPoolClient")["Properties"]
    minutes = {"minutes": 1, "hours": 60, "days": 1440}
    validity = client["RefreshTokenValidity"] * minutes[client["TokenValidityUnits"]["RefreshToken"]]
    assert validity <= 24 * 60
    assert client["RefreshTokenRotation"]["Feature"] == "ENABLED"
    assert client["IdTokenValidity"] * minutes[client["TokenValidityUnits"]["IdToken"]] <= 60


def test_threat_protection_is_a_knob_on_the_plus_plan(synth: SynthFn, template: Any) -> None:
    assert "UserPoolAddOns" not in one(template, "AWS::Cognito::UserPool")["Properties"]
    props = one(synth(model="bundled", threatProtection="true")[1], "AWS::Cognito::UserPool")["Properties"]
    assert props["UserPoolTier"] == "PLUS"
    assert props["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"


def test_app_client_allows_no_oauth_flow(template: Any) -> None:
    # Sign-in is Cognito's JSON API; no implicit grant (tokens in URLs) and no redirect URLs.
    client = one(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client.get("AllowedOAuthFlowsUserPoolClient") is False
    assert not client.get("AllowedOAuthFlows") and not client.get("CallbackURLs")
