"""Local sign-in: moto's cognito-idp in server mode, with the pool, client and demo user made.

moto speaks Cognito's JSON API (`X-Amz-Target: AWSCognitoIdentityProviderService.*`), issues
RS256 ID/access/refresh tokens and serves the JWKS at `<url>/<pool>/.well-known/jwks.json`,
so the web page and the CLI use the same sign-in code as against AWS with only the endpoint
changed. moto would grant CORS to any web origin, letting any page open in the browser sign
in to the local pool and call its admin API; `BrowserOrigins` allows the local web page's
origin alone (requests without an Origin, from the CLI and scripts, pass).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from skinlesion.client import cognito_idp
from skinlesion.local.httpbase import PortInUse

log = logging.getLogger(__name__)

DEMO_USERNAME = "demo@example.com"
# A fixed, documented password: the local stack is loopback-only, and a fixed sign-in lets
# people and scripts reuse it across restarts. It meets Cognito's default password policy.
DEMO_PASSWORD = "Lesion-Demo-2026!"
AUTH_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@dataclass(frozen=True)
class UserPool:
    """What clients and the gateway need to know about the local pool."""

    endpoint: str
    region: str
    pool_id: str
    client_id: str
    username: str
    password: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"


class BrowserOrigins:
    """WSGI middleware: CORS for `allowed` origins only; a request from any other origin gets 403.

    Refusing the request itself (not only leaving out the CORS grant) matters: a browser still
    sends some cross-origin requests without a preflight, and the page only loses the answer.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], allowed: Iterable[str]) -> None:
        self.app, self.allowed = app, frozenset(origin.rstrip("/") for origin in allowed)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)
        if origin not in self.allowed:
            body = b'{"__type": "AccessDeniedException", "message": "origin not allowed"}'
            start_response(
                "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        grant = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "*"),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin"),
        ]
        if environ["REQUEST_METHOD"] == "OPTIONS":
            start_response("200 OK", [*grant, ("Content-Length", "0")])
            return [b""]

        def with_grant(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            kept = [
                (k, v)
                for k, v in headers
                if not k.lower().startswith("access-control-") and k.lower() != "vary"
            ]
            return start_response(status, [*kept, *grant], *exc)

        return self.app(environ, with_grant)


class CognitoServer:
    """moto's server (all its services; only cognito-idp is used) on a loopback port.

    `allowed_origins`: the web origins that may call it from a browser (the local web page).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, allowed_origins: Iterable[str] = ()
    ) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class _Quiet(WSGIRequestHandler):
            def log_request(self, *args: object, **kwargs: object) -> None:
                pass  # one line per request on the console would drown the stack's own output

        try:
            self._server = make_server(
                host,
                port,
                BrowserOrigins(DomainDispatcherApplication(create_backend_app), allowed_origins),
                threaded=True,
                request_handler=_Quiet,
            )
        except SystemExit as err:  # werkzeug exits on EADDRINUSE instead of raising
            raise PortInUse("sign-in (Cognito)", host, port) from err
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUse("sign-in (Cognito)", host, port) from err
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="cognito", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> CognitoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


def create_user_pool(
    endpoint: str, *, region: str = "us-east-1", username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD
) -> UserPool:
    """A pool like the stack's (email sign-in), a secretless app client, a confirmed demo user."""
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    pool_id = cognito.create_user_pool(
        PoolName="skinlesion-local",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 8,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
            }
        },
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="skinlesion-web",
        GenerateSecret=False,
        ExplicitAuthFlows=AUTH_FLOWS,
        ReadAttributes=["email", "email_verified"],
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    return UserPool(endpoint, region, pool_id, client_id, username, password)


class SignInFailed(Exception):
    """Cognito refused the sign-in (the message is Cognito's)."""


def sign_in(endpoint: str, client_id: str, username: str, password: str, *, timeout_s: float = 10) -> dict:
    """USER_PASSWORD_AUTH, as the web page and CLI do: the AuthenticationResult (ID, access, refresh)."""
    try:
        body = cognito_idp(endpoint, read_timeout_s=timeout_s).initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SignInFailed(f"{error.get('Code')}: {error.get('Message')}") from None
    if "AuthenticationResult" not in body:
        raise SignInFailed(f"Cognito asked for a challenge: {body.get('ChallengeName')}")
    result: dict = body["AuthenticationResult"]
    return result
