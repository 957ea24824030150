"""`skinlesion`: the one command a user remembers.

    skinlesion up                      run the whole product locally (the local stack)
    skinlesion predict IMAGE...        classify images through the API (local or deployed)
    skinlesion train [ARGS...]         train a model (model_src/train.py; --default = the shipped one)
    skinlesion evaluate [ARGS...]      evaluate a model (model_src/evaluate.py)
    skinlesion cost [OPTIONS]          what the chosen AWS settings cost, before deploying
    skinlesion preflight [-c K=V...]   will `cdk deploy` work here? credentials, bootstrap, quotas, images
    skinlesion smoke [--stack NAME]    prove a deployed (or the local) stack works, end to end
    skinlesion batch SRC --out FILE    score a folder or s3:// prefix (API or SageMaker Batch Transform)

`up`, `train` and `evaluate` hand every argument to the part that owns them, so
`skinlesion train --help` shows the training script's own options.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from skinlesion import cost, modelcmd, predict, targets
from skinlesion.auth import ENV_MFA_CODE, ENV_PASSWORD, ENV_TOKEN, ENV_USERNAME, target_and_tokens
from skinlesion.client import SignInError

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSTHROUGH = ("up", "train", "evaluate")
OWN_PARSER = ("preflight", "smoke", "token", "batch")  # commands whose module parses its own arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skinlesion", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="run the local stack (model server, API, sign-in, web page)", add_help=False)
    sub.add_parser(
        "train", help="train a model; `train --default` reproduces the shipped one", add_help=False
    )
    sub.add_parser("evaluate", help="evaluate a model on labelled images", add_help=False)
    sub.add_parser("preflight", help="check an AWS account before `cdk deploy`", add_help=False)
    sub.add_parser("smoke", help="prove a deployed (or the local) stack works", add_help=False)
    sub.add_parser("token", help="sign in (SRP, MFA) and print an ID token for curl", add_help=False)
    sub.add_parser("batch", help="score a folder or an S3 prefix into one table", add_help=False)
    predict_parser = sub.add_parser(
        "predict",
        help="classify images through the API",
        description="Classify image files through the skin-lesion API.",
    )
    _add_predict(predict_parser)
    cost_parser = sub.add_parser(
        "cost",
        help="estimate what the AWS settings cost",
        description="Estimate AWS cost for the stack's settings (prices.json).",
    )
    _add_cost(cost_parser)
    for command in (predict_parser, cost_parser):
        command.set_defaults(subparser=command)  # a bad flag is reported with this command's usage
    return parser


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG or WebP files")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: read its CloudFormation outputs")
    where.add_argument(
        "--stack-file",
        type=Path,
        metavar="PATH",
        help="the local stack's stack.json (default: .local/stack.json here, else in the repository)",
    )
    p.add_argument("--api", metavar="URL", help="API base URL (overrides the stack's)")
    p.add_argument("--region", help="AWS region of the stack and its Cognito user pool")
    p.add_argument("--client-id", help="Cognito app client id (overrides the stack's)")
    p.add_argument("--cognito-endpoint", metavar="URL", help="Cognito endpoint (default: from the region)")
    p.add_argument("--username", help=f"default: ${ENV_USERNAME}, the local stack's demo user, or a prompt")
    p.add_argument("--password", help=f"default: ${ENV_PASSWORD} or a prompt (flags show up in `ps`)")
    p.add_argument("--token", help=f"an ID token to use as is, skipping sign-in (default: ${ENV_TOKEN})")
    p.add_argument(
        "--mfa-code",
        metavar="CODE",
        help=f"the 6-digit code of your authenticator app when sign-in asks for it (default: ${ENV_MFA_CODE} "
        "or a prompt)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per file (JSON lines)")
    p.add_argument("--workers", type=int, default=4, help="requests in parallel (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the token cache")


def _add_cost(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a CDK context value, as given to `cdk deploy -c` (repeatable)",
    )
    p.add_argument("--endpoint-type", choices=("realtime", "serverless"))
    p.add_argument("--instance-type", help="real-time endpoint instance type")
    p.add_argument("--instance-count", type=int)
    p.add_argument("--serverless-memory", type=int, dest="serverless_memory_mb", metavar="MB")
    p.add_argument("--training-instance-type")
    p.add_argument("--training-instance-count", type=int)
    p.add_argument("--training-hours", type=float, help="assumed length of one run (default: 1)")
    p.add_argument("--request-seconds", type=float, help="assumed compute per request (default: 0.3)")
    p.add_argument("--image-mb", type=float, help="assumed image size per request (default: 0.25)")
    p.add_argument("--lambda-memory", type=int, dest="lambda_memory_mb", metavar="MB")
    p.add_argument("--json", action="store_true", help="print the settings and numbers as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in PASSTHROUGH:
            return _passthrough(args[0], args[1:])
        if args and args[0] in OWN_PARSER:
            return _own_parser(args[0], args[1:])
        parsed, unknown = build_parser().parse_known_args(args)
        if unknown:  # argparse would print the top-level usage; the subcommand's says more
            parsed.subparser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return _predict(parsed) if parsed.command == "predict" else _cost(parsed)
    except KeyboardInterrupt:
        print("skinlesion: interrupted", file=sys.stderr)
        return 130


def _predict(a: argparse.Namespace) -> int:
    try:
        target, tokens = target_and_tokens(a, REPO_ROOT)
    except targets.TargetError as exc:
        print(f"skinlesion: {exc}", file=sys.stderr)
        return predict.EXIT_USAGE
    except SignInError as exc:
        print(f"skinlesion: {exc}", file=sys.stderr)
        return predict.EXIT_SIGN_IN
    assert target.api_url is not None
    return predict.run(
        a.images,
        target.api_url,
        tokens,
        as_json=a.json,
        workers=max(1, a.workers),
        show_progress=not a.no_progress,
        hint=_unreachable_hint(target),
    )


def _unreachable_hint(target: targets.Target) -> str:
    if target.source.endswith(".json"):  # a local stack that is not (or no longer) running
        return f"Is the local stack running? (addresses from {target.source}; start it: `skinlesion up`)\n"
    return ""


def _cost(a: argparse.Namespace) -> int:
    try:
        context = dict(_key_value(item) for item in a.context)
        settings = cost.with_overrides(
            cost.settings_from_stack(context),
            endpoint_type=a.endpoint_type,
            instance_type=a.instance_type,
            instance_count=a.instance_count,
            serverless_memory_mb=a.serverless_memory_mb,
            training_instance_type=a.training_instance_type,
            training_instance_count=a.training_instance_count,
            training_hours=a.training_hours,
            request_seconds=a.request_seconds,
            image_mb=a.image_mb,
            lambda_memory_mb=a.lambda_memory_mb,
        )
        prices = cost.load_prices()
        result = cost.estimate(settings, prices)
    except (cost.CostError, ValueError) as exc:
        print(f"skinlesion cost: {exc}", file=sys.stderr)
        return predict.EXIT_USAGE
    if a.json:
        print(
            json.dumps(
                {
                    "settings": asdict(settings),
                    "estimate": asdict(result),
                    "prices": {k: prices[k] for k in ("as_of", "region", "currency", "sources")},
                },
                indent=2,
            )
        )
    else:
        print(cost.format_estimate(settings, result, prices), end="")
    return 0


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"-c takes KEY=VALUE (got {item!r}), e.g. -c endpointType=serverless")
    return key.strip(), value.strip()


def _own_parser(command: str, args: list[str]) -> int:
    if command == "preflight":
        from skinlesion import preflight  # loads the stack's modules: only when asked

        return preflight.main(args)
    if command == "token":
        from skinlesion import tokencmd

        return tokencmd.main(args)
    if command == "batch":
        from skinlesion import batch

        return batch.main(args)
    from skinlesion import smoke

    return smoke.main(args)


def _passthrough(command: str, args: list[str]) -> int:
    if command == "up":
        try:
            from skinlesion.local.up import main as up_main
        except ImportError as exc:
            print(f"skinlesion up: the local stack is not installed ({exc})", file=sys.stderr)
            return predict.EXIT_USAGE
        return int(up_main(args) or 0)
    return modelcmd.train(args) if command == "train" else modelcmd.evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
