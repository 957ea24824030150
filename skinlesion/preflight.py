"""`skinlesion preflight`: will `cdk deploy` work in this account and region? Asked before it costs.

    skinlesion preflight [-c key=value ...] [--region REGION] [--json]

Reads the same settings `cdk deploy` would (cdk.json's context, then `-c` values)
from this checkout, then checks, with the caller's AWS credentials and read-only calls:

- credentials (STS GetCallerIdentity) and the region they are used in;
- CDK bootstrap: the CDKToolkit stack and the bootstrap version parameter in SSM;
- Service Quotas for every SageMaker instance the settings need (training, on demand or
  spot; the ISIC import's processing instance; the real-time endpoint), with the
  check of `lesion_contract/quotas.py` that the deploy itself runs before a job starts;
- the SageMaker TensorFlow (Deep Learning Container) images in the region (ECR DescribeImages);
- API Gateway's account-level CloudWatch role: the deploy would replace one the account
  already has, unless `-c apiGatewayCloudWatchRole=false` keeps it.

Prints a table; exits 1 when anything blocks the deploy (each blocker says what to
do), 0 otherwise, 2 when it cannot run (not a checkout, bad `-c` value).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lesion_contract import quotas
from skinlesion import REPO_ROOT

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2
# aws-cdk-lib 2.x's default synthesizer: the templates refuse bootstrap versions 1-5.
MIN_BOOTSTRAP_VERSION = 6
DEFAULT_QUALIFIER = "hnb659fds"
TOOLKIT_STACK = "CDKToolkit"
OK, BLOCKER, WARN = "ok", "BLOCKER", "warn"

Clients = Callable[[str], Any]


class PreflightError(Exception):
    """The check cannot run at all (not a checkout, a bad context value)."""


@dataclass(frozen=True)
class Check:
    """One row of the table; `fix` says what to do about a blocker or a warning."""

    name: str
    status: str
    result: str
    fix: str = ""


@dataclass(frozen=True)
class Plan:
    """What the deploy will ask of the account: region, bootstrap, instances, images."""

    region: str
    region_source: str
    needs: tuple[quotas.Need, ...]
    images: tuple[tuple[str, str], ...]  # (purpose, image URI)
    qualifier: str = DEFAULT_QUALIFIER
    image_error: str = ""
    stack_id: str = "SkinLesion"
    api_cloud_watch_role: bool = True
    api_role_explicit: bool = False  # -c apiGatewayCloudWatchRole was given
    lambda_reserved: int = 0  # reserved concurrency the API Lambda asks for (0: none)
    notes: tuple[str, ...] = field(default_factory=tuple)


def _cdk_context(root: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((root / "cdk.json").read_text()).get("context", {}))
    except (OSError, ValueError) as err:
        raise PreflightError(
            f"cannot read {root / 'cdk.json'}: run preflight in the project checkout ({err})"
        ) from None


def plan_from_checkout(
    context: Mapping[str, Any], *, region: str | None, region_source: str, root: Path = REPO_ROOT
) -> Plan:
    """The deploy's needs for these settings, computed by the stack's own config and image lookup."""
    merged = _cdk_context(root) | dict(context)
    # The stack's modules start jsii; its end-of-life banner for Node 20 is noise here.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    try:
        from stacks.config import AppConfig, ConfigError
        from stacks.constructs.dataset import IMPORT_INSTANCE_TYPE
        from stacks.constructs.sagemaker_image import inference_image_uri, training_image_uri
    except ImportError as err:  # aws-cdk-lib / sagemaker-core: the `cdk` extra, as for `cdk deploy`
        raise PreflightError(f"the stack's modules cannot load ({err}): `pip install -e '.[cdk]'`") from None

    environ = {"CDK_DEFAULT_REGION": region} if region else {}
    try:
        config = AppConfig.from_context(merged.get, environ)
    except ConfigError as err:
        raise PreflightError(str(err)) from None
    if merged.get("region"):
        region_source = "-c region"
    needs, notes = [], []
    images: list[tuple[str, str]] = []
    image_error = ""
    try:
        if config.model.kind == "train":
            training = config.training
            needs.append(
                quotas.training_need(training.instance_type, training.instance_count, spot=training.use_spot)
            )
            images.append(("training", training_image_uri(config.region, training.instance_type)))
            if not training.dataset_uri:
                needs.append(quotas.processing_need(IMPORT_INSTANCE_TYPE))
                images.append(("ISIC import", training_image_uri(config.region, IMPORT_INSTANCE_TYPE)))
        else:
            notes.append(f"model source '{config.model.kind}': no import or training job runs")
        if config.endpoint.serverless:
            notes.append("serverless endpoint: no instance quota applies")
        else:
            needs.append(quotas.endpoint_need(config.endpoint.instance_type, config.endpoint.instance_count))
        images.append(("inference", inference_image_uri(region=config.region, settings=config.endpoint)))
    except ValueError as err:  # no image for this region and instance type
        image_error = str(err)
    return Plan(
        region=config.region,
        region_source=region_source,
        needs=tuple(needs),
        images=_one_row_per_image(images),
        qualifier=str(merged.get("@aws-cdk/core:bootstrapQualifier") or DEFAULT_QUALIFIER),
        image_error=image_error,
        notes=tuple(notes),
        stack_id=config.stack_id,
        api_cloud_watch_role=config.api.cloud_watch_role,
        api_role_explicit=merged.get("apiGatewayCloudWatchRole") is not None,
        lambda_reserved=config.api.lambda_concurrency,
    )


def _one_row_per_image(images: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    purposes: dict[str, list[str]] = {}
    for purpose, uri in images:
        purposes.setdefault(uri, []).append(purpose)
    return tuple((" + ".join(names), uri) for uri, names in purposes.items())


def _code(err: Exception) -> str:
    return str((getattr(err, "response", None) or {}).get("Error", {}).get("Code", type(err).__name__))


def _message(err: Exception) -> str:
    error = (getattr(err, "response", None) or {}).get("Error", {})
    return f"{error.get('Code')}: {error.get('Message')}" if error else f"{type(err).__name__}: {err}"


def check_credentials(clients: Clients, plan: Plan) -> tuple[Check, str | None]:
    try:
        identity = clients("sts").get_caller_identity()
    except Exception as err:
        fix = "configure credentials: `aws configure`, `aws sso login`, or AWS_PROFILE=…"
        if _code(err) in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            fix = "the session expired: sign in again (`aws sso login` or new keys)"
        return Check("credentials", BLOCKER, _message(err), fix), None
    account = str(identity["Account"])
    return Check("credentials", OK, f"account {account} as {identity['Arn']}"), account


def check_region(plan: Plan) -> Check:
    return Check("region", OK, f"{plan.region} (from {plan.region_source})")


def check_bootstrap(clients: Clients, plan: Plan, account: str) -> list[Check]:
    command = f"npx cdk bootstrap aws://{account}/{plan.region}"
    rows = []
    try:
        stack = clients("cloudformation").describe_stacks(StackName=TOOLKIT_STACK)["Stacks"][0]
        status = str(stack["StackStatus"])
        good = status.endswith("_COMPLETE") and "ROLLBACK" not in status and "DELETE" not in status
        rows.append(Check(f"{TOOLKIT_STACK} stack", OK if good else BLOCKER, status, "" if good else command))
    except Exception as err:
        missing = _code(err) == "ValidationError" and "does not exist" in _message(err)
        if missing:
            rows.append(Check(f"{TOOLKIT_STACK} stack", BLOCKER, f"not found in {plan.region}", command))
        else:
            rows.append(
                Check(f"{TOOLKIT_STACK} stack", WARN, _message(err), "check the stack in the console")
            )
    parameter = f"/cdk-bootstrap/{plan.qualifier}/version"
    try:
        version = int(clients("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])
    except Exception as err:
        if _code(err) == "ParameterNotFound":
            rows.append(Check("CDK bootstrap version", BLOCKER, f"{parameter} not found", command))
        else:
            rows.append(Check("CDK bootstrap version", WARN, _message(err), f"check {parameter} in SSM"))
        return rows
    if version < MIN_BOOTSTRAP_VERSION:
        rows.append(
            Check(
                "CDK bootstrap version",
                BLOCKER,
                f"{version} < {MIN_BOOTSTRAP_VERSION} (what this app's templates require)",
                f"bootstrap again to upgrade: {command}",
            )
        )
    else:
        rows.append(Check("CDK bootstrap version", OK, f"{version} (>= {MIN_BOOTSTRAP_VERSION})"))
    return rows


def check_quotas(clients: Clients, plan: Plan) -> list[Check]:
    rows: list[Check] = []
    if not plan.needs:
        return rows
    for finding in quotas.check(clients("service-quotas"), plan.needs):
        need, name = finding.need, f"quota: {finding.need.quota_name}"
        [rolled] = quotas.during_model_update([need])
        if finding.status == "ok" and finding.value is not None and finding.value < rolled.needed:
            # enough to deploy; a later new model rolls blue/green and needs both fleets at once
            fix = quotas.request_command(
                quotas.Finding(rolled, finding.value, finding.quota_code), plan.region
            )
            result = f"{finding.value:g} >= {need.needed}, but < {rolled.needed} for a model update"
            rows.append(Check(name, WARN, f"{result} ({need.purpose})", fix))
        elif finding.status == "ok":
            rows.append(Check(name, OK, f"{finding.value:g} >= {need.needed} ({need.purpose})"))
        elif finding.status == "short":
            command = quotas.request_command(finding, plan.region)
            fix = f"{command}  or  {quotas.console_url(finding, plan.region)}"
            rows.append(
                Check(name, BLOCKER, f"{finding.value:g} < {need.needed} needed ({need.purpose})", fix)
            )
        else:
            rows.append(
                Check(name, WARN, finding.error, f"check it in {quotas.console_url(finding, plan.region)}")
            )
    return rows


def check_images(clients: Clients, plan: Plan) -> list[Check]:
    if plan.image_error:
        return [
            Check(
                "SageMaker images", BLOCKER, plan.image_error, "choose a supported -c region / instance type"
            )
        ]
    rows = []
    for purpose, uri in plan.images:
        registry, _, rest = uri.partition(".dkr.ecr.")
        repository, _, tag = rest.partition("/")[2].partition(":")
        name = f"image ({purpose})"
        try:
            clients("ecr").describe_images(
                registryId=registry, repositoryName=repository, imageIds=[{"imageTag": tag}]
            )
            rows.append(Check(name, OK, uri))
        except Exception as err:
            if _code(err) in ("ImageNotFoundException", "RepositoryNotFoundException"):
                rows.append(Check(name, BLOCKER, f"{uri}: {_message(err)}", "choose another -c region"))
            else:
                rows.append(Check(name, WARN, f"{uri}: not verified ({_message(err)})"))
    return rows


def check_api_gateway_account(clients: Clients, plan: Plan) -> Check:
    """The account's API Gateway CloudWatch role against what the knob will do to it."""
    name, knob = "API Gateway CloudWatch role", "-c apiGatewayCloudWatchRole"
    try:
        arn = clients("apigateway").get_account().get("cloudwatchRoleArn")
    except Exception as err:
        return Check(name, WARN, _message(err), "check API Gateway's Settings page in the console")
    if not plan.api_cloud_watch_role:
        if arn:
            return Check(name, OK, f"kept: {arn} ({knob}=false)")
        return Check(name, BLOCKER, "none set, and the stage's logs need one", f"drop {knob}=false")
    if not arn:
        return Check(name, OK, "none set: the stack sets its own")
    if f":role/{plan.stack_id}-" in arn:
        return Check(name, OK, f"this stack's own: {arn}")
    if plan.api_role_explicit:
        return Check(name, WARN, f"{arn} will be replaced by this stack's ({knob}=true)")
    return Check(
        name,
        BLOCKER,
        f"the account already has {arn}; the deploy would replace it",
        f"keep it: {knob}=false (recommended); or take it over: {knob}=true",
    )


# Lambda keeps this many concurrent executions unreserved in every account and region.
LAMBDA_MIN_UNRESERVED = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"


def check_lambda_concurrency(clients: Clients, plan: Plan) -> Check:
    """Reserved concurrency for the API Lambda must leave Lambda's 100 unreserved executions.

    New accounts often start with a low concurrency quota; PutFunctionConcurrency then
    fails the deploy halfway ("would decrease UnreservedConcurrentExecution below its minimum").
    """
    name, knob = "Lambda reserved concurrency", "-c reservedConcurrency"
    if plan.lambda_reserved <= 0:
        return Check(name, OK, f"none reserved ({knob}=0)")
    try:
        limits = clients("lambda").get_account_settings()["AccountLimit"]
    except Exception as err:
        return Check(name, WARN, _message(err), "check Lambda's concurrency quota in the console")
    unreserved = int(limits.get("UnreservedConcurrentExecutions", 0))
    room = unreserved - LAMBDA_MIN_UNRESERVED
    if plan.lambda_reserved <= room:
        return Check(name, OK, f"{plan.lambda_reserved} of {unreserved} unreserved (keeps 100 free)")
    total = int(limits.get("ConcurrentExecutions", 0))
    wanted = total - room + plan.lambda_reserved
    request = (
        "aws service-quotas request-service-quota-increase --service-code lambda "
        f"--quota-code {LAMBDA_CONCURRENCY_QUOTA} --desired-value {wanted} --region {plan.region}"
    )
    fix = f"{knob}={max(room, 0)} (or 0 for none), or raise the quota: {request}"
    result = f"{plan.lambda_reserved} needed, only {max(room, 0)} can be reserved ({unreserved} unreserved)"
    return Check(name, BLOCKER, result, fix)


def run_checks(plan: Plan, clients: Clients) -> list[Check]:
    """Every check, in the order a deploy meets them; stops after credentials fail."""
    credentials, account = check_credentials(clients, plan)
    rows = [credentials, check_region(plan)]
    if account is None:
        return rows
    rows += check_bootstrap(clients, plan, account)
    rows += check_quotas(clients, plan)
    rows += check_images(clients, plan)
    rows.append(check_api_gateway_account(clients, plan))
    rows.append(check_lambda_concurrency(clients, plan))
    return rows


def format_table(rows: Sequence[Check], plan: Plan) -> str:
    width = max(len(r.name) for r in rows)
    lines = [f"{'CHECK'.ljust(width)}  {'STATUS':7}  RESULT"]
    lines += [f"{r.name.ljust(width)}  {r.status:7}  {r.result}" for r in rows]
    lines += [f"note: {note}" for note in plan.notes]
    todo = [r for r in rows if r.fix and r.status != OK]
    if todo:
        lines += ["", "To do:"] + [f"- {r.name} [{r.status}]: {r.fix}" for r in todo]
    blockers = sum(r.status == BLOCKER for r in rows)
    lines += ["", f"{blockers} blocker(s): `cdk deploy` would fail." if blockers else "Ready to deploy."]
    return "\n".join(lines) + "\n"


def default_clients(region: str) -> Clients:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
    session = boto3.Session(region_name=region)
    return lambda service: session.client(service, config=config)  # type: ignore[call-overload]


def _region_default(explicit: str | None) -> tuple[str | None, str]:
    if explicit:
        return explicit, "--region"
    import boto3

    found = boto3.Session().region_name
    return (found, "your AWS profile / AWS_REGION") if found else (None, "the app's default (no region set)")


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a CDK context value, as given to `cdk deploy -c` (repeatable)",
    )
    parser.add_argument(
        "--region", help="the region to deploy to (default: -c region, else your AWS profile)"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def main(argv: Sequence[str] | None = None, *, clients: Clients | None = None, root: Path = REPO_ROOT) -> int:
    args = build_parser(
        argparse.ArgumentParser(prog="skinlesion preflight", description=__doc__.split("\n\n")[0])
    ).parse_args(argv)
    try:
        context = dict(_key_value(item) for item in args.context)
        region, source = _region_default(args.region)
        plan = plan_from_checkout(context, region=region, region_source=source, root=root)
    except (PreflightError, ValueError) as err:
        print(f"skinlesion preflight: {err}", file=sys.stderr)
        return EXIT_USAGE
    rows = run_checks(plan, clients or default_clients(plan.region))
    if args.json:
        print(json.dumps({"region": plan.region, "checks": [asdict(r) for r in rows]}, indent=2))
    else:
        print(format_table(rows, plan), end="")
    return EXIT_BLOCKED if any(r.status == BLOCKER for r in rows) else EXIT_OK


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"-c takes KEY=VALUE (got {item!r}), e.g. -c trainingSpot=true")
    return key.strip(), value.strip()
