"""`skinlesion token`: sign in and print an ID token, for curl and other clients.

The cloud app client allows SRP only, which the AWS CLI cannot speak; this signs in the way
`skinlesion predict` does (SRP with the pool id, TOTP MFA) and prints the token on stdout,
so `TOKEN=$(skinlesion token --stack SkinLesion)` captures it. The password is never an
argument (it would show in `ps`): it is read from the terminal, `$SKINLESION_PASSWORD`, the
local stack's demo user, or one line of standard input when that is not a terminal (the
username first, when it is not given).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from skinlesion import targets
from skinlesion.auth import ENV_MFA_CODE, ENV_PASSWORD, ENV_USERNAME, build_provider
from skinlesion.client import SignInError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_USAGE, EXIT_SIGN_IN = 2, 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="skinlesion token", description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: read its CloudFormation outputs")
    where.add_argument("--stack-file", type=Path, metavar="PATH", help="the local stack's stack.json")
    p.add_argument("--region", help="AWS region of the stack and its user pool")
    p.add_argument("--client-id", help="Cognito app client id (overrides the stack's)")
    p.add_argument("--cognito-endpoint", metavar="URL", help="Cognito endpoint (default: from the region)")
    p.add_argument("--username", help=f"default: ${ENV_USERNAME}, the local demo user, or asked")
    p.add_argument(
        "--mfa-code", metavar="CODE", help=f"authenticator code (default: ${ENV_MFA_CODE} or asked)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the token cache")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if a.stack:
            target = targets.from_cloudformation(a.stack, a.region)
        else:
            target = targets.from_stack_file(a.stack_file or targets.default_stack_file(REPO_ROOT))
        target = target.with_overrides(
            client_id=a.client_id, region=a.region, cognito_endpoint=a.cognito_endpoint
        )
        username = a.username or os.environ.get(ENV_USERNAME) or target.username or _ask("Username: ")
        password = os.environ.get(ENV_PASSWORD) or (target.password if username == target.username else None)
        provider = build_provider(
            target,
            username=username,
            password=password or _ask(f"Password for {username}: ", secret=True),
            token=None,
            use_cache=not a.no_cache,
            mfa_code=a.mfa_code,
        )
        print(provider.token())
    except targets.TargetError as exc:
        print(f"skinlesion token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SignInError as exc:
        print(f"skinlesion token: {exc}", file=sys.stderr)
        return EXIT_SIGN_IN
    return 0


def _ask(prompt: str, *, secret: bool = False) -> str:
    """From the terminal (prompt on stderr), else one line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input_on_stderr(prompt)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise SignInError(f"sign-in needs {prompt.split(':')[0].lower()}: nothing on standard input")
    return line.rstrip("\n")


def input_on_stderr(prompt: str) -> str:
    """input() without writing the prompt to stdout (which `$(skinlesion token)` captures)."""
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().rstrip("\n")
