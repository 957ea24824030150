"""Clients for the two services a user talks to: Cognito (sign-in) and the predict API.

Sign-in uses boto3's `cognito-idp` client, unsigned (the sign-in calls need no AWS
credentials): the same calls work against AWS and against the local stack's moto Cognito.
Against AWS it speaks SRP (USER_SRP_AUTH, skinlesion/srp.py: the password never leaves
this process; the cloud app client allows nothing else), against the local stack
USER_PASSWORD_AUTH (moto checks a password but never an SRP proof); then it answers
NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA and
MFA_SETUP (TOTP enrolment). Refresh is GetTokensFromRefreshToken against AWS (the client
rotates refresh tokens) and REFRESH_TOKEN_AUTH against moto. The API takes the resulting
*ID* token as `Authorization: Bearer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import lesion_contract as contract
from skinlesion.tokens import CachedTokens

CONNECT_TIMEOUT_S = 5
# The API gives up at 29 s (API Gateway's integration timeout); wait a little longer than that.
API_READ_TIMEOUT_S = 35
COGNITO_READ_TIMEOUT_S = 15

# Cognito error types -> what the user should read. Anything else shows Cognito's own message.
_SIGN_IN_HINTS = {
    "NotAuthorizedException": "incorrect username or password",
    "UserNotFoundException": "no such user in this user pool",
    "UserNotConfirmedException": "the user has not confirmed the account yet",
    "PasswordResetRequiredException": "the password must be reset first (use the web page)",
    "ResourceNotFoundException": "the app client id is not known to this user pool",
    "TooManyRequestsException": "too many sign-in attempts; wait a minute and retry",
}


_AWS_ENDPOINT = re.compile(r"^https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/?$")


def cognito_endpoint_for(region: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/"


def cognito_idp(endpoint: str, *, read_timeout_s: float = COGNITO_READ_TIMEOUT_S) -> Any:
    """An unsigned boto3 `cognito-idp` client for `endpoint` (AWS's, or the local stack's moto)."""
    aws = _AWS_ENDPOINT.match(endpoint)
    config = Config(
        signature_version=UNSIGNED,  # the sign-in calls take no AWS credentials
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout_s,
        retries={"total_max_attempts": 2, "mode": "standard"},
    )
    region = aws.group(1) if aws else "us-east-1"  # any region suits an endpoint given by URL
    # AWS's own endpoint is boto3's default for the region, which also honours boto3's endpoint
    # settings (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: a test or a proxy redirects it).
    return boto3.session.Session().client(
        "cognito-idp", region_name=region, endpoint_url=None if aws else endpoint, config=config
    )


class SignInError(Exception):
    """Sign-in failed; str(error) is one line for the user."""


class ApiError(Exception):
    """The API answered with an error (or could not be reached)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        lesion_score: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.detail = message  # the API's own words, without the status
        self.status = status
        self.code = code
        self.request_id = request_id
        self.lesion_score = lesion_score  # a not_a_skin_lesion refusal's `lesionScore`


@dataclass(frozen=True)
class MfaPrompts:
    """How the CLI asks for a TOTP code and shows a new TOTP secret (once, at enrolment)."""

    code: Callable[[], str]
    show_secret: Callable[[str, str], None]  # (secret, otpauth:// URI)


class CognitoClient:
    """Sign-in (SRP or password, then challenges) and token refresh for one app client."""

    def __init__(
        self, endpoint: str, client_id: str, *, pool_id: str | None = None, srp: bool | None = None
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.pool_id = pool_id
        # SRP against AWS (the cloud client allows nothing else); USER_PASSWORD_AUTH against the
        # local stack, as its web page does: moto never checks an SRP proof, only a password.
        self.srp = bool(pool_id) and (bool(_AWS_ENDPOINT.match(endpoint)) if srp is None else srp)
        self._idp = cognito_idp(endpoint)

    def sign_in(
        self,
        username: str,
        password: str,
        new_password: Callable[[], str] | None = None,
        *,
        mfa: MfaPrompts | None = None,
    ) -> CachedTokens:
        """Sign in and answer the challenges that follow (they can chain: new password, then MFA)."""
        from skinlesion.challenges import CHALLENGES as _CHALLENGES  # noqa: N811 (imports this module)
        from skinlesion.challenges import srp_sign_in

        if self.srp:
            body = srp_sign_in(self, username, password)
        else:
            body = self._call(
                self._idp.initiate_auth,
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=self.client_id,
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        for _ in range(4):
            name = body.get("ChallengeName")
            if name not in _CHALLENGES:
                break
            body = _CHALLENGES[name](self, body, username, new_password, mfa)
        return self._tokens(body, refresh_token=None)

    def respond(self, name: str, body: dict[str, Any], responses: dict[str, str]) -> dict[str, Any]:
        """RespondToAuthChallenge with the previous step's session (when it had one)."""
        session = {"Session": body["Session"]} if body.get("Session") else {}
        return self._call(
            self._idp.respond_to_auth_challenge,
            ChallengeName=name,
            ClientId=self.client_id,
            ChallengeResponses=responses,
            **session,
        )

    def refresh(self, refresh_token: str) -> CachedTokens:
        if _AWS_ENDPOINT.match(self.endpoint):
            # With refresh-token rotation (the stack's client) REFRESH_TOKEN_AUTH is refused; this
            # returns a new refresh token, which replaces the old one in the cache.
            body = self._call(
                self._idp.get_tokens_from_refresh_token, ClientId=self.client_id, RefreshToken=refresh_token
            )
        else:  # moto (the local stack) has no GetTokensFromRefreshToken
            body = self._call(
                self._idp.initiate_auth,
                AuthFlow="REFRESH_TOKEN_AUTH",
                ClientId=self.client_id,
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        return self._tokens(body, refresh_token=refresh_token)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Any cognito-idp operation by its boto3 name, with sign-in's error handling."""
        return self._call(getattr(self._idp, operation), **params)

    def _tokens(self, body: dict[str, Any], *, refresh_token: str | None) -> CachedTokens:
        result = body.get("AuthenticationResult")
        if not isinstance(result, dict) or "IdToken" not in result:
            challenge = body.get("ChallengeName", "none")
            raise SignInError(f"sign-in failed: Cognito asked for an unsupported step ({challenge})")
        return CachedTokens(
            id_token=result["IdToken"],
            expires_at=time.time() + float(result.get("ExpiresIn", 3600)),
            # REFRESH_TOKEN_AUTH does not return a new refresh token; keep the one we had.
            refresh_token=result.get("RefreshToken") or refresh_token,
        )

    def _call(self, operation: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any]:
        try:
            return operation(**params)
        except ClientError as exc:
            raise _sign_in_error(exc) from None
        except BotoCoreError as exc:  # connection refused, timeouts, no such host
            raise SignInError(
                f"sign-in failed: cannot reach Cognito at {self.endpoint} ({type(exc).__name__})"
            ) from None


def _sign_in_error(exc: ClientError) -> SignInError:
    """Cognito's error (code and message) as one readable line."""
    error = exc.response.get("Error", {})
    error_type = str(error.get("Code", ""))
    message = str(error.get("Message") or "").strip().rstrip(".")
    if error_type == "NotAuthorizedException" and message:
        # Cognito's own text is precise here ("Incorrect username or password", "User is disabled").
        return SignInError(f"sign-in failed: {message[:1].lower()}{message[1:]}")
    hint = _SIGN_IN_HINTS.get(error_type)
    if hint:
        return SignInError(f"sign-in failed: {hint}")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return SignInError(f"sign-in failed: {error_type or 'Cognito error'}: {message or f'HTTP {status}'}")


@dataclass(frozen=True)
class Prediction:
    """A 200 answer of POST /predict."""

    label: str
    benign: float
    malignant: float
    body: dict[str, Any]


class PredictApi:
    """POST /predict with raw image bytes; retries only throttling (429) with backoff."""

    def __init__(self, api_url: str, *, session: requests.Session | None = None) -> None:
        self.predict_url = api_url.rstrip("/") + contract.ROUTE_PREDICT
        self.session = session or _retrying_session()

    def predict(self, data: bytes, content_type: str, id_token: str) -> Prediction:
        headers = {
            "Content-Type": content_type,
            "Authorization": f"Bearer {id_token}",
            "Accept": "application/json",
        }
        try:
            response = self.session.post(
                self.predict_url, data=data, headers=headers, timeout=(CONNECT_TIMEOUT_S, API_READ_TIMEOUT_S)
            )
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach the API at {self.predict_url} ({_reason(exc)})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            try:
                probs = body["probabilities"]
                return Prediction(str(body["label"]), float(probs["benign"]), float(probs["malignant"]), body)
            except (KeyError, TypeError, ValueError):
                raise ApiError("the API answered 200 without label and probabilities", status=200) from None
        raise _api_error(response, body)


def _api_error(response: requests.Response, body: Any) -> ApiError:
    """The contract's {"error": {"code", "message"}, "requestId"}, or API Gateway's {"message"}."""
    status = response.status_code
    code = message = request_id = None
    lesion_score: float | None = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
        message = message or body.get("message") or body.get("Message")
        request_id = body.get("requestId")
        score = body.get("lesionScore")
        if isinstance(score, int | float) and not isinstance(score, bool):
            lesion_score = float(score)
    if not message:
        message = (response.text or response.reason or "no details").strip().splitlines()[0][:200]
    return ApiError(message, status=status, code=code, request_id=request_id, lesion_score=lesion_score)


def _retrying_session() -> requests.Session:
    # POST is retried on 429 only: throttling means the request was not processed.
    retry = Retry(
        total=3,
        connect=2,
        read=0,
        status_forcelist=(429,),
        allowed_methods=None,
        backoff_factor=0.5,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host not found"
    return type(exc).__name__
