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
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["DeletionPolicy"] == "Delete"


def test_self_sign_up_is_switchable(synth: SynthFn) -> None:
    pool = one(synth(selfSignUp="true")[1], "AWS::Cognito::UserPool")
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False


def test_app_client_has_no_secret_and_allows_password_srp_and_refresh(template: Any) -> None:
    client = one(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
    ]


def test_app_client_allows_no_oauth_flow(template: Any) -> None:
    # Sign-in is Cognito's JSON API; no implicit grant (tokens in URLs) and no redirect URLs.
    client = one(template, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client.get("AllowedOAuthFlowsUserPoolClient") is False
    assert not client.get("AllowedOAuthFlows") and not client.get("CallbackURLs")
