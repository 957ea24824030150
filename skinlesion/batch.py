"""`skinlesion batch SRC --out results.csv`: score a whole folder or S3 prefix into one table.

    skinlesion batch photos/ --out results.csv                 the local stack's API, 4 at a time
    skinlesion batch photos/ --stack SkinLesion --out r.csv    a deployed stack's API
    skinlesion batch s3://bucket/in/ --stack SkinLesion --out r.csv   SageMaker Batch Transform

A folder goes through the API (local mode: bounded concurrency, retries, resumable);
an `s3://` prefix runs a SageMaker Batch Transform job on the deployed model (cloud
mode, batch_cloud). Both write the same columns (batch_output) and end with the same
summary (batch_summary).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from skinlesion import targets
from skinlesion.auth import ENV_MFA_CODE, ENV_PASSWORD, ENV_USERNAME, TokenProvider, target_and_tokens
from skinlesion.batch_local import Scorer, list_images, score_all
from skinlesion.batch_output import FORMATS, ResultsFile, Row, read_rows
from skinlesion.batch_summary import Progress, summary
from skinlesion.client import SignInError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_SIGN_IN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
REPO_ROOT = Path(__file__).resolve().parent.parent
HELP = "score a folder or an S3 prefix into one table (API or SageMaker Batch Transform)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC", help="a folder (recursive) or s3://bucket/prefix/")
    p.add_argument("--out", required=True, type=Path, help="results file (a rerun skips what it holds)")
    p.add_argument("--format", choices=FORMATS, help="default: from --out's suffix, else csv")
    p.add_argument(
        "--on", choices=("api", "sagemaker"), help="default: api for a folder, sagemaker for s3://"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: read its CloudFormation outputs")
    where.add_argument("--stack-file", type=Path, metavar="PATH", help="the local stack's stack.json")
    p.add_argument("--region", help="AWS region of the stack")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--all-files", action="store_true", help="score every file, not only image suffixes")
    api = p.add_argument_group("local mode (through the API)")
    api.add_argument("--api", metavar="URL", help="API base URL (overrides the stack's)")
    api.add_argument("--client-id", help="Cognito app client id (overrides the stack's)")
    api.add_argument("--cognito-endpoint", metavar="URL", help="Cognito endpoint (default: from the region)")
    api.add_argument("--username", help=f"default: ${ENV_USERNAME}, the local stack's demo user, or a prompt")
    api.add_argument("--password", help=f"default: ${ENV_PASSWORD} or a prompt")
    api.add_argument("--token", help="an ID token to use as is, skipping sign-in")
    api.add_argument(
        "--mfa-code", metavar="CODE", help=f"authenticator code if asked (default: ${ENV_MFA_CODE})"
    )
    api.add_argument("--no-cache", action="store_true", help="do not read or write the token cache")
    api.add_argument("--workers", type=int, default=4, help="requests in flight (default: %(default)s)")
    api.add_argument(
        "--retries", type=int, default=5, help="retries of 429/5xx per file (default: %(default)s)"
    )
    _add_cloud_arguments(p.add_argument_group("cloud mode (SageMaker Batch Transform)"))


def _add_cloud_arguments(g: argparse._ArgumentGroup) -> None:
    # Here, not in batch_cloud: building the parser must not import boto3 (every command builds it).
    g.add_argument("--model", metavar="NAME", help="SageMaker model (default: the stack's BatchModelName)")
    g.add_argument("--output-s3", metavar="S3URI", help="where the job writes (default: the stack's)")
    g.add_argument("--instance-type", default="ml.m5.xlarge", help="default: %(default)s")
    g.add_argument("--instance-count", type=int, default=1, help="default: %(default)s")
    g.add_argument("--max-payload", type=int, default=6, metavar="MB", help="largest image (default: 6)")
    g.add_argument("--max-concurrent", type=int, default=4, help="requests per instance (default: 4)")
    g.add_argument("--job-name", help="default: skinlesion-batch-<UTC time>")
    g.add_argument("--attach", metavar="JOB", help="join an existing job's output instead of starting one")
    g.add_argument("--image-seconds", type=float, default=0.05, help="assumed instance-seconds per image")
    g.add_argument("--yes", action="store_true", help="start without asking")
    g.add_argument("--poll", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skinlesion batch", description=HELP)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry for `python -m skinlesion.batch` and the tests; `skinlesion batch` calls run()."""
    try:
        return run(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        print("skinlesion batch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run(a: argparse.Namespace, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    fmt = a.format or ("parquet" if a.out.suffix == ".parquet" else "csv")
    cloud = a.on == "sagemaker" or (a.on is None and a.source.startswith("s3://"))
    if cloud:
        from skinlesion.batch_cloud import run_cloud

        return run_cloud(a, fmt, err)
    if a.source.startswith("s3://"):
        err.write("skinlesion batch: an s3:// source runs on SageMaker (--on sagemaker)\n")
        return EXIT_USAGE
    return run_local(a, fmt, err)


def resolve_tokens(a: argparse.Namespace) -> tuple[targets.Target, TokenProvider]:
    """The API and a token provider, found the way `skinlesion predict` finds them."""
    return target_and_tokens(a, REPO_ROOT)


def run_local(a: argparse.Namespace, fmt: str, err: TextIO) -> int:
    root = Path(a.source)
    if not root.is_dir():
        err.write(f"skinlesion batch: {root} is not a folder\n")
        return EXIT_USAGE
    try:
        results = ResultsFile(a.out, fmt)
        target, tokens = resolve_tokens(a)
        token = tokens.token()  # sign in before any file: a wrong password is one line and nothing else
    except (targets.TargetError, ValueError) as exc:
        err.write(f"skinlesion batch: {exc}\n")
        return EXIT_USAGE
    except SignInError as exc:
        err.write(f"skinlesion batch: {exc}\n")
        return EXIT_SIGN_IN
    assert target.api_url is not None
    files = list_images(root, all_files=a.all_files)
    done = results.open()
    todo = [f for f in files if f not in done]
    scorer = Scorer(root, target.api_url, tokens, retries=max(0, a.retries), token=token)
    written, seconds, code = _score(results, scorer, todo, a, err)
    all_rows = read_rows(a.out, fmt)
    err.write(summary(all_rows, scored_now=written, seconds=seconds, skipped=len(files) - len(todo)))
    if code in (EXIT_INTERRUPTED, EXIT_SIGN_IN):
        err.write("Stopped. Run the same command again to continue: files in the output are skipped.\n")
        return code
    return EXIT_SOME_FAILED if any(r.error_code for r in all_rows) else EXIT_OK


def _score(
    results: ResultsFile, scorer: Scorer, todo: list[str], a: argparse.Namespace, err: TextIO
) -> tuple[int, float, int]:
    """Score `todo`, each row written as its file finishes; (rows written, seconds, exit code)."""
    progress = Progress(len(todo), err, enabled=not a.no_progress)
    code, stopped_by = EXIT_OK, ""

    def sink(row: Row) -> None:
        results.write(row)
        progress.step()

    start = time.monotonic()
    try:
        score_all(scorer, todo, max(1, a.workers), sink)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except SignInError as exc:  # a renewal failed or the API refuses the token: no file can succeed
        code, stopped_by = EXIT_SIGN_IN, f"skinlesion batch: {exc}\n"
    finally:
        progress.close()
        results.close()
    err.write(stopped_by)
    return progress.done, time.monotonic() - start, code


if __name__ == "__main__":
    sys.exit(main())
