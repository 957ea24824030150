"""`skinlesion cost`: what the chosen settings cost on AWS, before anyone deploys.

Arithmetic over the price table in `prices.json` (its date and sources print with
every estimate). The settings are the stack's own (`stacks.config.AppConfig` from
cdk.json's context and any `-c key=value`, read the way `cdk deploy` reads them),
so the estimate describes what `cdk deploy` would create.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stacks.config import AppConfig, ConfigError

PRICES_PATH = Path(__file__).with_name("prices.json")
REPO_ROOT = Path(__file__).resolve().parent.parent
VOLUMES = (1_000, 100_000)  # requests a month shown side by side
MB_PER_GB = 1024


class CostError(Exception):
    """A setting the price table cannot price; one line for the user."""


@dataclass(frozen=True)
class CostSettings:
    """The knobs that drive cost: the stack's settings (`settings_from_stack`) and assumptions."""

    endpoint_type: str
    instance_type: str
    instance_count: int
    max_instances: int
    serverless_memory_mb: int
    training_instance_type: str
    training_instance_count: int
    training_max_hours: float
    model_source: str
    region: str
    lambda_memory_mb: int
    waf: bool = False  # -c waf=true: a web ACL with WAF_RULES rules on the API's stage
    threat_protection: bool = False  # -c threatProtection=true: Cognito's Plus feature plan
    # Assumptions, not stack settings: say them next to every estimate.
    training_hours: float = (
        1.0  # a typical run of the default recipe; the job is capped at training_max_hours
    )
    request_seconds: float = 0.3  # endpoint compute per request (and the Lambda waiting on it)
    image_mb: float = 0.25  # a phone photo after the client's downscale


@dataclass(frozen=True)
class Estimate:
    """Dollar amounts; `*_by_volume` map requests a month to the monthly cost."""

    training_run: float
    training_cap: float
    endpoint_hourly: float
    endpoint_monthly: float
    realtime_by_volume: dict[int, float] = field(default_factory=dict)
    serverless_by_volume: dict[int, float] = field(default_factory=dict)
    api_by_volume: dict[int, float] = field(default_factory=dict)
    waf_by_volume: dict[int, float] = field(default_factory=dict)


WAF_RULES = 2  # stacks/constructs/api_protection.py: the per-IP rate rule and AWS's common rule set


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def _price(table: Mapping[str, float], instance_type: str, what: str) -> float:
    try:
        return float(table[instance_type])
    except KeyError:
        known = ", ".join(sorted(table))
        raise CostError(f"no {what} price for {instance_type} in prices.json (known: {known})") from None


def estimate(s: CostSettings, prices: Mapping[str, Any], volumes: tuple[int, ...] = VOLUMES) -> Estimate:
    """The whole bill, one line item at a time. Data out (a ~200-byte JSON answer) is ignored."""
    sm, hours_per_month = prices["sagemaker"], float(prices["hours_per_month"])
    train_rate = _price(sm["training_per_instance_hour"], s.training_instance_type, "training") * (
        s.training_instance_count
    )
    host_rate = _price(sm["realtime_per_instance_hour"], s.instance_type, "real-time hosting")
    endpoint_hourly = host_rate * s.instance_count
    endpoint_monthly = endpoint_hourly * hours_per_month
    data_rate = float(sm["data_processed_per_gb"]) * s.image_mb / MB_PER_GB  # per request
    serverless_per_request = (
        float(sm["serverless_per_gb_second"]) * s.request_seconds * (s.serverless_memory_mb / MB_PER_GB)
    )
    lam, gw = prices["lambda"], prices["api_gateway_rest"]
    api_per_request = (
        float(gw["per_million_requests"]) / 1e6
        + float(lam["per_million_requests"]) / 1e6
        + float(lam["per_gb_second"]) * s.request_seconds * s.lambda_memory_mb / MB_PER_GB
    )
    waf = prices["waf"]
    waf_monthly = float(waf["web_acl_per_month"]) + WAF_RULES * float(waf["rule_per_month"])
    return Estimate(
        waf_by_volume={n: waf_monthly + n * float(waf["per_million_requests"]) / 1e6 for n in volumes},
        training_run=train_rate * s.training_hours,
        training_cap=train_rate * s.training_max_hours,
        endpoint_hourly=endpoint_hourly,
        endpoint_monthly=endpoint_monthly,
        realtime_by_volume={n: endpoint_monthly + n * data_rate for n in volumes},
        serverless_by_volume={n: n * (serverless_per_request + data_rate) for n in volumes},
        api_by_volume={n: n * api_per_request for n in volumes},
    )


def settings_from_stack(context: Mapping[str, Any], root: Path = REPO_ROOT) -> CostSettings:
    """The stack's settings for this context (cdk.json's, then `-c` values; the defaults without either)."""
    merged = {**_cdk_json_context(root), **context}
    try:
        app = AppConfig.from_context(merged.get, {})
    except ConfigError as exc:
        raise CostError(str(exc)) from None
    return CostSettings(
        endpoint_type=app.endpoint.endpoint_type,
        instance_type=app.endpoint.instance_type,
        instance_count=app.endpoint.instance_count,
        max_instances=app.endpoint.max_instances,
        serverless_memory_mb=app.endpoint.serverless_memory_mb,
        training_instance_type=app.training.instance_type,
        training_instance_count=app.training.instance_count,
        training_max_hours=app.training.max_runtime_hours,
        model_source=app.model.kind,
        region=app.region,
        lambda_memory_mb=app.api.lambda_memory_mb,
        waf=app.api.waf,
        threat_protection=app.auth.threat_protection,
    )


def _cdk_json_context(root: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((root / "cdk.json").read_text()).get("context", {}))
    except (OSError, ValueError):
        return {}


def with_overrides(s: CostSettings, **overrides: Any) -> CostSettings:
    """Apply the command's explicit flags (None means "not given")."""
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})


def _usd(amount: float, digits: int = 2) -> str:
    if 0 < amount < 10**-digits:
        return f"<${10**-digits:.{digits}f}"
    return f"${amount:,.{digits}f}"


def _endpoint_lines(s: CostSettings, e: Estimate, hours: int) -> list[str]:
    realtime = (
        f"{s.instance_type} x{s.instance_count}: {_usd(e.endpoint_hourly, 3)} per hour, "
        f"{_usd(e.endpoint_monthly)} per month ({hours} h)"
    )
    if s.endpoint_type == "serverless":
        return [
            f"Endpoint: serverless, {s.serverless_memory_mb} MB: nothing while idle, billed per request",
            f"  (real-time instead: {realtime})",
        ]
    scaled = f"; autoscaling may add up to {s.max_instances - s.instance_count} more" * (
        s.max_instances > s.instance_count
    )
    return [f"Endpoint: real-time, {realtime}", f"  billed while it exists, traffic or not{scaled}"]


def format_estimate(s: CostSettings, e: Estimate, prices: Mapping[str, Any]) -> str:
    """The printed report: training, endpoint, the by-volume comparison, assumptions and the source."""
    col, first = 16, 40
    when = (
        "" if s.model_source == "train" else " (only with -c model=train; the default ships a trained model)"
    )
    lines = [
        f"Estimated AWS cost, {prices['currency']}, {prices['region']} on-demand prices "
        f"as of {prices['as_of']}",
        "",
        f"Training run{when}:",
        f"  {s.training_instance_type} x{s.training_instance_count} for {s.training_hours:g} h (assumed): "
        f"{_usd(e.training_run)}; at most {_usd(e.training_cap)} (stopped at {s.training_max_hours:g} h)",
        "",
        *_endpoint_lines(s, e, prices["hours_per_month"]),
        "",
        f"{'Per month, by requests':<{first}}" + "".join(f"{f'{n:,}/month':>{col}}" for n in VOLUMES),
    ]
    rows = [
        (
            f"real-time {s.instance_type} x{s.instance_count}",
            e.realtime_by_volume,
            s.endpoint_type == "realtime",
        ),
        (f"serverless {s.serverless_memory_mb} MB", e.serverless_by_volume, s.endpoint_type == "serverless"),
        ("+ API Gateway and Lambda, either way", e.api_by_volume, False),
        (f"+ WAF web ACL, {WAF_RULES} rules (-c waf=true)", e.waf_by_volume, s.waf),
    ]
    for label, by_volume, chosen in rows:
        label = f"{'* ' if chosen else '  '}{label}"
        lines.append(f"{label:<{first}}" + "".join(f"{_usd(by_volume[n]):>{col}}" for n in VOLUMES))
    free_users = prices["cognito"]["free_monthly_active_users"]
    plus = prices["cognito"]["plus_per_monthly_active_user"]
    lines += [
        f"  Cognito: $0 up to {free_users:,} monthly active users. S3, CloudFront, logs: cents here.",
        f"{'* ' if s.threat_protection else '  '}Cognito threat protection (-c threatProtection=true): "
        f"{_usd(plus)} per monthly active user (Plus plan, as of {prices['cognito']['plus_as_of']}).",
        "* = what these settings deploy (-c endpointType=realtime|serverless).",
        "",
        f"Assumed: {s.request_seconds:g} s of compute per request, {s.image_mb:g} MB per image, "
        f"Lambda {s.lambda_memory_mb} MB.",
        "Not counted: free tiers, serverless cold starts, Savings Plans, spot training.",
    ]
    if s.region != prices["region"]:
        lines.append(f"Note: the stack's region is {s.region}; these are {prices['region']} prices.")
    lines += ["", prices["notice"], "Sources: " + " ".join(prices["sources"].values())]
    return "\n".join(lines) + "\n"
