"""Sign-in: a Cognito user pool and the app client the web page and the CLI share."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.nag import acknowledge


class Auth(Construct):
    """Email sign-in with a strong password policy and optional TOTP MFA.

    The app client has no secret (a browser and a CLI cannot keep one) and allows
    USER_PASSWORD_AUTH (the CLI and the web page call InitiateAuth directly), SRP
    and refresh, and no OAuth flow. The pool is deleted with the stack: users are recreated by an admin.
    """

    def __init__(self, scope: Construct, id_: str, *, self_sign_up: bool) -> None:
        super().__init__(scope, id_)
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
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional so research users can opt in to TOTP; the CLI's scripted "
            "USER_PASSWORD_AUTH sign-in would break with MFA required.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Plus feature plan is a per-user cost; Essentials covers email sign-in and TOTP MFA.",
        )
        self.user_pool_client = self.user_pool.add_client(
            "WebClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            # Sign-in is Cognito's JSON API only (no hosted UI): CDK's default OAuth flows, the
            # implicit grant (tokens in the URL fragment) among them, and its example.com callback
            # would only widen what the client accepts.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
