"""`skinlesion up`: run the whole product on this machine, no AWS account needed.

    python -m skinlesion.local.up [--model PATH] [--web-port 8080] [--api-port 8081] ...

Starts the model server, sign-in (moto Cognito), the API gateway and the web page; returns
control to the person only once a signed-in prediction has succeeded; prints the web URL
and the demo sign-in; writes .local/stack.json for scripts and tests; stops everything
and removes stack.json on Ctrl-C or SIGTERM. Exit codes: 0 stopped cleanly, 1 a part
failed to start, 2 a port is busy.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from skinlesion.local.httpbase import PortInUse
from skinlesion.local.stack import STATE_FILE, LocalStack, StackError, StackSettings
from skinlesion.local.webserver import BUILD_HINT

log = logging.getLogger("skinlesion.up")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = StackSettings()
    parser = argparse.ArgumentParser(
        prog="skinlesion up", description="Run the skin-lesion classifier locally."
    )
    parser.add_argument(
        "--model", type=Path, default=d.model, help="model.tar.gz to serve (default: %(default)s)"
    )
    parser.add_argument(
        "--host",
        default=d.host,
        help="address to listen on (default: %(default)s); anything but loopback needs --allow-remote",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on a non-loopback --host: the demo user, the local pool's admin API and the "
        "API without limits become reachable from the network",
    )
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="apply the deployed stage's per-method throttles in the gateway (stacks.config)",
    )
    parser.add_argument("--web-port", type=int, default=d.web_port, help="web page (default: %(default)s)")
    parser.add_argument("--api-port", type=int, default=d.api_port, help="API gateway (default: %(default)s)")
    parser.add_argument(
        "--model-port", type=int, default=d.model_port, help="model server (default: %(default)s)"
    )
    parser.add_argument(
        "--cognito-port", type=int, default=d.cognito_port, help="sign-in (default: %(default)s)"
    )
    parser.add_argument(
        "--region", default=d.region, help="region in tokens and config (default: %(default)s)"
    )
    parser.add_argument("--state-file", type=Path, default=STATE_FILE, help="where to write stack.json")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=d.ready_timeout_s,
        help="seconds to wait for the model (default: %(default)s)",
    )
    parser.add_argument(
        "--no-batching",
        dest="batching",
        action="store_false",
        help="run each model request alone; by default the server batches concurrent requests, "
        "as the deployed endpoint does (contract.ENDPOINT_CONTAINER_ENV)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def write_state(path: Path, state: dict) -> None:
    """Atomically, readable by this user only (it holds the demo password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
    os.replace(tmp, path)


def _banner(state: dict, elapsed_s: float, built: bool) -> str:
    lines = [
        "",
        f"  Skin-lesion classifier is running locally (ready in {elapsed_s:.1f} s,"
        f" model {state['modelVersion']}).",
        "",
        f"  Open      {state['webUrl']}",
        f"  Sign in   {state['username']}  /  {state['password']}",
        f"  API       {state['apiUrl']}   (POST /predict with a Cognito ID token)",
        f"  Details   {state['stateFile']}  (logs: lambda.log, model-server.log beside it)",
        "",
        "  Press Ctrl-C to stop.",
        "",
    ]
    if not built:
        lines.insert(3, f"  NOTE: {BUILD_HINT}")
    return "\n".join(lines)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def settings_from(args: argparse.Namespace) -> StackSettings:
    return StackSettings(
        model=args.model,
        host=args.host,
        web_port=args.web_port,
        api_port=args.api_port,
        model_port=args.model_port,
        cognito_port=args.cognito_port,
        region=args.region,
        ready_timeout_s=args.ready_timeout,
        batching=args.batching,
        throttle=args.throttle,
        log_dir=args.state_file.parent,
    )


REMOTE_WARNING = (
    "WARNING: listening on {host}, reachable from other machines. Anyone who can reach it can sign "
    "in as the demo user (its password is in stack.json and the banner), call the local Cognito's "
    "admin API and use the model. Use it only on a network you trust."
)


def check_host(host: str, allow_remote: bool) -> str | None:
    """None when `host` may be used; else why not. Loopback needs no flag; anything else does."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or allow_remote:
        return None
    return (
        f"skinlesion up: refusing --host {host}: the local stack has a demo user with a known password "
        "and no limits. Pass --allow-remote as well if other machines must reach it."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("skinlesion").setLevel(logging.DEBUG)
    refusal = check_host(args.host, args.allow_remote)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    settings = settings_from(args)
    console = sys.stdout
    if args.allow_remote and check_host(args.host, False):
        print(
            "\n" + "!" * 78 + "\n" + REMOTE_WARNING.format(host=args.host) + "\n" + "!" * 78, file=sys.stderr
        )
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    stack = LocalStack(settings)
    try:
        print(f"starting the local stack (model {settings.model}) ...", file=console, flush=True)
        _capture_lambda_output(settings.log_dir / "lambda.log", args.verbose)
        return _run(stack, args.state_file, console)
    except _Stop as why:
        print(f"\nstopping ({why}) ...", file=console, flush=True)
        return 0
    except PortInUse as err:
        print(f"skinlesion up: {err}", file=sys.stderr)
        return 2
    except (StackError, OSError) as err:
        print(f"skinlesion up: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # any start-up failure: say what, stop the rest, exit 1
        log.debug("start-up failed", exc_info=True)
        print(f"skinlesion up: could not start: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        if args.state_file.is_file() and _owned_by_us(args.state_file):
            args.state_file.unlink()
        sys.stdout = console
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(stack: LocalStack, state_file: Path, console: TextIO) -> int:
    """Start, publish stack.json, print the banner, then wait for a signal (_Stop)."""
    started = time.monotonic()
    stack.start()
    state = {**stack.state(), "stateFile": str(state_file)}
    write_state(state_file, state)
    built = stack.web is not None and stack.web.built
    print(_banner(state, time.monotonic() - started, built), file=console, flush=True)
    threading.Event().wait()
    return 0  # unreachable: the wait ends with a signal


def _capture_lambda_output(path: Path, verbose: bool) -> None:
    """Send the in-process Lambda's stdout (Powertools JSON logs, EMF metrics) to a log file,
    as CloudWatch Logs would hold them; the stack's own lines go to the console stream main() kept.
    Must run before the handler is imported: Powertools binds its handler to sys.stdout then."""
    if not verbose:
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout = open(path, "a", buffering=1)  # noqa: SIM115 - main() puts the console back


def _owned_by_us(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("pid") == os.getpid()
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
