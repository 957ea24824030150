"""`skinlesion smoke`: one command that proves a stack works, end to end, after `cdk deploy`.

    skinlesion smoke --stack SkinLesion       a deployed stack (its CloudFormation outputs)
    skinlesion smoke                          the local stack (.local/stack.json)

It signs in with SRP, as the CLI does (a token or username/password given to it, the
local stack's demo user, or else a temporary Cognito user that it creates with the admin
API, enrols in TOTP MFA where the pool requires it, and deletes afterwards), then checks
what a user relies on:

    /health         200 without a token
    /model          200 with the model's version
    /predict        200 for a real lesion image (shipped in skinlesion/data/): label, probabilities
    bad file        a JSON 4xx error for bytes that are no image
    no token        401 from the gateway
    web page        200, and config.json naming this API and app client

It prints a table and exits 1 when any check fails (2: the stack cannot be found).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import requests

from skinlesion import REPO_ROOT, targets
from skinlesion.auth import ENV_PASSWORD, ENV_TOKEN, ENV_USERNAME
from skinlesion.client import API_READ_TIMEOUT_S, CONNECT_TIMEOUT_S, CognitoClient, MfaPrompts, SignInError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
LESION_IMAGE = "ISIC_0024400_melanoma.jpg"
NOT_AN_IMAGE = b"this text file is not an image\n" * 8
CONFIG_KEYS = ("apiUrl", "region", "userPoolId", "userPoolClientId", "mode")
_TIMEOUT = (CONNECT_TIMEOUT_S, API_READ_TIMEOUT_S)


@dataclass(frozen=True)
class Stack:
    """Where the stack answers and how to sign in to it."""

    target: targets.Target
    web_url: str | None
    local: bool


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str


def lesion_image() -> bytes:
    """The bundled real dermoscopic image (see skinlesion/data/README.md for its licence)."""
    return (resources.files("skinlesion") / "data" / LESION_IMAGE).read_bytes()


def find_stack(stack_name: str | None, region: str | None, stack_file: Path | None) -> Stack:
    """A deployed stack's outputs (`--stack`), else the local stack's stack.json."""
    if stack_name:
        target = targets.from_cloudformation(stack_name, region)
        outputs = targets._stack_outputs(stack_name, target.region)
        return Stack(target=target, web_url=outputs.get("WebUrl"), local=False)
    path = stack_file or targets.default_stack_file(REPO_ROOT)
    target = targets.from_stack_file(path)
    try:
        web_url = json.loads(path.read_text()).get("webUrl")
    except (OSError, ValueError):
        web_url = None
    return Stack(target=target, web_url=web_url, local=True)


def _admin_client(stack: Stack) -> Any:
    import boto3

    if stack.local:  # moto's Cognito: any key signs, the endpoint is the local one
        return boto3.client(
            "cognito-idp",
            endpoint_url=stack.target.cognito_endpoint,
            region_name=stack.target.region or "us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the local stack's moto accepts any key
        )
    return boto3.client("cognito-idp", region_name=stack.target.region)


def _temporary_password() -> str:
    # Meets the pool's policy: 12+ characters with lower, upper, digit and symbol.
    return f"Sm0ke-{secrets.token_urlsafe(18)}!a1"


@contextlib.contextmanager
def temporary_user(stack: Stack) -> Iterator[tuple[str, str]]:
    """A confirmed user made with the admin API for this run, deleted afterwards whatever happens."""
    pool = stack.target.user_pool_id
    if not pool:
        raise SignInError("cannot create a temporary user: the stack names no user pool")
    admin = _admin_client(stack)
    username = f"skinlesion-smoke-{secrets.token_hex(6)}@example.com"
    password = _temporary_password()
    try:
        admin.admin_create_user(
            UserPoolId=pool,
            Username=username,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": username},
                {"Name": "email_verified", "Value": "true"},
            ],
        )
    except Exception as err:
        raise SignInError(f"cannot create a temporary user in {pool}: {err}") from None
    try:
        admin.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
        yield username, password
    finally:
        try:
            admin.admin_delete_user(UserPoolId=pool, Username=username)
        except Exception as err:  # a user left behind is a failure the table must show
            raise SignInError(f"could not delete the temporary user {username} from {pool}: {err}") from None


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None
    temporary: bool = False  # create a temporary user even if the stack names a demo user
    mfa_code: str | None = None  # the given user's current TOTP code


@contextlib.contextmanager
def signed_in(stack: Stack, given: Credentials) -> Iterator[tuple[str, str]]:
    """(ID token, who): a given token, given or demo credentials, else a temporary user."""
    if given.token:
        yield given.token, "the given token"
        return
    target = stack.target
    if not target.client_id or not target.cognito_endpoint:
        raise SignInError("the stack names no Cognito app client")
    # SRP with the pool id (the cloud app client allows nothing else), as `skinlesion predict` signs in.
    cognito = CognitoClient(target.cognito_endpoint, target.client_id, pool_id=target.user_pool_id)
    username = given.username or (None if given.temporary else target.username)
    password = given.password or (target.password if username == target.username else None)
    if username and password:
        yield cognito.sign_in(username, password, mfa=_given_mfa(given.mfa_code)).id_token, username
        return
    if username:
        raise SignInError(f"a password for {username} is needed: pass --password or set {ENV_PASSWORD}")
    with temporary_user(stack) as (temp, temp_password):
        # The cloud pool requires TOTP: the temporary user enrols (MFA_SETUP) with a secret we keep.
        token = cognito.sign_in(temp, temp_password, mfa=_enrolling_mfa()).id_token
        yield token, f"{temp} (temporary, deleted afterwards)"


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits): what an authenticator app shows for `secret`."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _enrolling_mfa() -> MfaPrompts:
    secret: list[str] = []
    return MfaPrompts(code=lambda: totp(secret[-1]), show_secret=lambda value, _uri: secret.append(value))


def _given_mfa(code: str | None) -> MfaPrompts | None:
    if code is None:
        return None

    def no_enrolment(_secret: str, _uri: str) -> None:
        raise SignInError("this user has no MFA device yet: sign in once on the web page to set one up")

    return MfaPrompts(code=lambda: code, show_secret=no_enrolment)


Check = Callable[[requests.Session, str, str], str]


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _expect(response: requests.Response, status: int) -> Any:
    body = _json(response)
    if response.status_code != status:
        shown = json.dumps(body)[:160] if body is not None else (response.text or "")[:160]
        raise AssertionError(f"HTTP {response.status_code} (expected {status}): {shown}")
    return body


def check_health(session: requests.Session, api: str, _token: str) -> str:
    _expect(session.get(f"{api}/health", timeout=_TIMEOUT), 200)
    return "200"


def check_model(session: requests.Session, api: str, token: str) -> str:
    body = _expect(session.get(f"{api}/model", headers=_auth(token), timeout=_TIMEOUT), 200)
    if not isinstance(body, dict) or not body.get("version"):
        raise AssertionError(f"200 without a model version: {json.dumps(body)[:160]}")
    return f"200, model {body['version']}"


def check_predict(session: requests.Session, api: str, token: str) -> str:
    headers = _auth(token) | {"Content-Type": "image/jpeg", "Accept": "application/json"}
    body = _expect(
        session.post(f"{api}/predict", data=lesion_image(), headers=headers, timeout=_TIMEOUT), 200
    )
    body = body if isinstance(body, dict) else {}
    probabilities = body.get("probabilities") or {}
    values = [probabilities.get("benign"), probabilities.get("malignant")]
    numbers = [float(v) for v in values if isinstance(v, int | float) and 0 <= v <= 1]
    if body.get("label") not in ("benign", "malignant") or len(numbers) != 2:
        raise AssertionError(f"200 without a label and two probabilities: {json.dumps(body)[:160]}")
    if not math.isclose(sum(numbers), 1.0, abs_tol=1e-3):
        raise AssertionError(f"probabilities do not sum to 1: {probabilities}")
    return f"200, {body['label']} (malignant {probabilities['malignant']:.2f}) for {LESION_IMAGE}"


def check_bad_file(session: requests.Session, api: str, token: str) -> str:
    headers = _auth(token) | {"Content-Type": "image/jpeg", "Accept": "application/json"}
    response = session.post(f"{api}/predict", data=NOT_AN_IMAGE, headers=headers, timeout=_TIMEOUT)
    body = _json(response)
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if not (400 <= response.status_code < 500 and response.status_code not in (401, 403)) or not code:
        raise AssertionError(
            f"expected a JSON 4xx error, got HTTP {response.status_code}: {response.text[:160]}"
        )
    return f"{response.status_code} {code}"


def check_no_token(session: requests.Session, api: str, _token: str) -> str:
    headers = {"Content-Type": "image/jpeg"}
    response = session.post(f"{api}/predict", data=lesion_image(), headers=headers, timeout=_TIMEOUT)
    _expect(response, 401)
    return "401"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check_web(session: requests.Session, web_url: str, api: str, client_id: str | None) -> str:
    page = session.get(web_url, timeout=_TIMEOUT)
    if page.status_code != 200 or "<html" not in page.text.lower():
        raise AssertionError(f"web page: HTTP {page.status_code}: {page.text[:120]}")
    config = _expect(session.get(f"{web_url.rstrip('/')}/config.json", timeout=_TIMEOUT), 200)
    missing = [k for k in CONFIG_KEYS if not (isinstance(config, dict) and config.get(k))]
    if missing:
        raise AssertionError(f"config.json lacks {', '.join(missing)}")
    if config["apiUrl"].rstrip("/") != api or (client_id and config["userPoolClientId"] != client_id):
        raise AssertionError(
            f"config.json names another stack: {config['apiUrl']}, {config['userPoolClientId']}"
        )
    return f"200, config.json mode {config['mode']} -> {config['apiUrl']}"


def _timed(name: str, run: Callable[[], str]) -> Result:
    started = time.monotonic()
    try:
        detail = run()
    except (AssertionError, requests.RequestException) as err:
        return Result(name, False, str(err) or type(err).__name__)
    return Result(name, True, f"{detail} ({time.monotonic() - started:.1f} s)")


def run(stack: Stack, credentials: Credentials, session: requests.Session | None = None) -> list[Result]:
    """Every check; a sign-in failure skips the ones that need a token."""
    session = session or requests.Session()
    api = (stack.target.api_url or "").rstrip("/")
    results = [_timed("GET /health", lambda: check_health(session, api, ""))]
    try:
        with signed_in(stack, credentials) as (token, who):
            results.append(Result("sign-in", True, who))
            for name, check in (
                ("GET /model", check_model),
                ("POST /predict lesion image", check_predict),
                ("POST /predict bad file", check_bad_file),
                ("POST /predict no token", check_no_token),
            ):
                results.append(_timed(name, lambda check=check: check(session, api, token)))  # type: ignore[misc]
    except SignInError as err:
        results.append(Result("sign-in", False, str(err)))
    if stack.web_url:
        url = stack.web_url
        results.append(
            _timed("web page + config.json", lambda: check_web(session, url, api, stack.target.client_id))
        )
    else:
        results.append(Result("web page + config.json", False, "the stack names no web URL"))
    return results


def format_table(results: Sequence[Result], source: str) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"smoke test of {source}", f"{'CHECK'.ljust(width)}  RESULT  DETAIL"]
    lines += [f"{r.name.ljust(width)}  {'pass' if r.ok else 'FAIL':6}  {r.detail}" for r in results]
    failed = sum(not r.ok for r in results)
    lines.append(
        f"{failed} of {len(results)} checks failed." if failed else f"All {len(results)} checks passed."
    )
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack)")
    where.add_argument("--stack-file", type=Path, metavar="PATH", help="the local stack's stack.json")
    p.add_argument("--region", help="AWS region of the deployed stack")
    p.add_argument(
        "--username", help=f"sign in as this user (default: ${ENV_USERNAME}, else a temporary user)"
    )
    p.add_argument("--password", help=f"the user's password (default: ${ENV_PASSWORD})")
    p.add_argument("--token", help=f"an ID token to use as is (default: ${ENV_TOKEN})")
    p.add_argument("--mfa-code", help="the given user's current 6-digit code (pools that require MFA)")
    p.add_argument(
        "--temporary-user",
        action="store_true",
        help="create (and delete) a temporary Cognito user even where a demo user exists",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = add_arguments(
        argparse.ArgumentParser(prog="skinlesion smoke", description=__doc__.split("\n\n")[0])
    ).parse_args(argv)
    try:
        stack = find_stack(args.stack, args.region, args.stack_file)
    except targets.TargetError as err:
        print(f"skinlesion smoke: {err}", file=sys.stderr)
        return EXIT_USAGE
    credentials = Credentials(
        token=args.token or os.environ.get(ENV_TOKEN),
        username=args.username or os.environ.get(ENV_USERNAME),
        password=args.password or os.environ.get(ENV_PASSWORD),
        temporary=args.temporary_user,
        mfa_code=args.mfa_code,
    )
    results = run(stack, credentials)
    if args.json:
        print(json.dumps({"stack": stack.target.source, "checks": [r.__dict__ for r in results]}, indent=2))
    else:
        print(format_table(results, stack.target.source), end="")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
