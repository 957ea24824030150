"""Sign-in: a Cognito user pool and the app client the web page and the CLI share."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.config import AuthSettings
from stacks.nag import acknowledge


class Auth(Construct):
    """Email sign-in with a strong password policy and TOTP MFA (required unless `-c mfa=optional`).

    The app client has no secret (a browser and a CLI cannot keep one) and allows SRP only
    (the password never leaves the client; USER_PASSWORD_AUTH is the local stack's alone),
    no OAuth flow, and one-day refresh tokens that rotate on each use (the web page and the
    CLI refresh with GetTokensFromRefreshToken). The pool is deleted with the stack: users
    are recreated by an admin.
    """

    def __init__(self, scope: Construct, id_: str, *, self_sign_up: bool, settings: AuthSettings) -> None:
        super().__init__(scope, id_)
        threat_protection = (
            {
                "feature_plan": cognito.FeaturePlan.PLUS,
                "standard_threat_protection_mode": cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            }
            if settings.threat_protection
            else {}
        )
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=self_sign_up,
            # Every flag explicit: CDK writes only the flags that are set (nag COG1 reads them).
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED if settings.mfa_required else cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.DESTROY,
            **threat_protection,  # type: ignore[arg-type]
        )
        if not settings.mfa_required:
            acknowledge(
                self.user_pool,
                "AwsSolutions-COG2",
                "MFA is optional because the deployer passed `-c mfa=optional` (a demo pool); "
                "users may still enrol TOTP from the web page or the CLI.",
            )
        if not settings.threat_protection:
            acknowledge(
                self.user_pool,
                "AwsSolutions-COG8",
                "The Plus feature plan (threat protection) is a per-user monthly cost; TOTP MFA and SRP "
                "cover credential stuffing; `-c threatProtection=true` turns it on (docs/security.md).",
            )
        self.user_pool_client = self.user_pool.add_client(
            "WebClient",
            generate_secret=False,
            # SRP only: CDK adds ALLOW_REFRESH_TOKEN_AUTH, which rotation below replaces.
            auth_flows=cognito.AuthFlow(user_srp=True),
            # Sign-in is Cognito's JSON API only (no hosted UI): CDK's default OAuth flows, the
            # implicit grant (tokens in the URL fragment) among them, and its example.com callback
            # would only widen what the client accepts.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(settings.refresh_token_hours),
            # Each refresh returns a new refresh token and invalidates the old one after 10 s
            # (a retry of a lost answer still works): a stolen token works once at most.
            refresh_token_rotation_grace_period=Duration.seconds(10),
        )
