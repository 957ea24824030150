"""The app's one typed configuration, built once from CDK context in `app.py`.

Every knob a user can pass with `-c key=value` is read here and nowhere else;
constructs receive the frozen dataclasses below. Values from the command line
arrive as strings and values from `cdk.json` as JSON types, so each reader accepts
both. A bad value fails synth with a message that names the knob and shows what to
pass.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lesion_contract as contract

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "us-east-1"
DEFAULT_BUNDLED_MODEL = REPO_ROOT / "models" / "default" / "model.tar.gz"
DEFAULT_SITE_DIR = REPO_ROOT / "web" / "dist"

ENDPOINT_TYPES = ("realtime", "serverless")
MODEL_SOURCES = ("train", "bundled")
# Serverless Inference allows 1024..6144 MB in 1 GB steps and 1..200 concurrent invocations.
SERVERLESS_MEMORY_CHOICES = (1024, 2048, 3072, 4096, 5120, 6144)
_S3_MODEL_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/(?:[^\s]+/)?[^/\s]+\.tar\.gz$")
_S3_PREFIX_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/(?:[^\s]*/)?$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*x?large$|^ml\.[a-z0-9]+\.(?:medium|small)$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)
LOG_RETENTION_DAYS += (1096, 1827, 2192, 2557, 2922, 3288, 3653)


class ConfigError(ValueError):
    """A context value that cannot work; the message says what to pass instead."""


def _fail(key: str, got: object, expected: str, example: str) -> ConfigError:
    return ConfigError(f"context '{key}' {expected} (got {got!r}); pass e.g. `-c {key}={example}`")


def parse_bool(key: str, value: Any, default: bool) -> bool:
    """`true`/`false` (any case), 1/0, or a JSON boolean."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise _fail(key, value, "must be true or false", "true")


def parse_int(key: str, value: Any, default: int, *, low: int, high: int) -> int:
    """A whole number within [low, high]."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise _fail(key, value, f"must be a whole number from {low} to {high}", str(default))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _fail(key, value, f"must be a whole number from {low} to {high}", str(default)) from None
    if not low <= number <= high:
        raise _fail(key, value, f"must be from {low} to {high}", str(default))
    return number


def parse_float(key: str, value: Any, default: float, *, low: float, high: float) -> float:
    """A number within [low, high]."""
    if value is None:
        return default
    try:
        number = float(str(value).strip())
    except ValueError:
        raise _fail(key, value, f"must be a number from {low} to {high}", str(default)) from None
    if not low <= number <= high:
        raise _fail(key, value, f"must be from {low} to {high}", str(default))
    return number


def parse_choice(key: str, value: Any, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`."""
    if value is None:
        return default
    text = str(value).strip()
    if text not in choices:
        raise _fail(key, value, f"must be one of {', '.join(choices)}", choices[-1])
    return text


def parse_optional_str(value: Any) -> str | None:
    """None for an absent or empty value, else the trimmed string."""
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


_HP_KEY = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


def parse_hyperparameters(value: Any) -> tuple[tuple[str, str], ...]:
    """A JSON object of train.py flags without the dashes: `{"learning-rate": 0.0005, "arch": "seed"}`."""
    example = "'{\"learning-rate\": 0.0005}'"
    if value is None or value == "":
        return ()
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise _fail("hyperparameters", value, "must be a JSON object", example) from None
    if not isinstance(data, dict) or not all(
        _HP_KEY.match(str(k)) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in data.items()
    ):
        raise _fail("hyperparameters", value, "must map train.py flag names to numbers or strings", example)
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


def check_s3_model_uri(key: str, value: str) -> str:
    """An `s3://bucket/…/model.tar.gz` URI (what SageMaker's ModelDataUrl takes)."""
    if not _S3_MODEL_URI.match(value):
        raise _fail(
            key, value, "must be an S3 URI of a .tar.gz artifact", "s3://my-bucket/models/model.tar.gz"
        )
    return value


def check_s3_prefix_uri(key: str, value: str) -> str:
    """An `s3://bucket/prefix/` folder URI ending in a slash."""
    if not _S3_PREFIX_URI.match(value):
        raise _fail(key, value, "must be an S3 folder URI ending in '/'", "s3://my-bucket/isic/")
    return value


@dataclass(frozen=True)
class EndpointSettings:
    """The SageMaker endpoint: real-time (autoscaled) or serverless."""

    name: str = "skin-lesion-classifier"
    endpoint_type: str = "realtime"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    min_instances: int = 1
    max_instances: int = 2
    target_invocations_per_instance: int = 100
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    # Model updates on a real-time endpoint (docs/operations.md): blue/green; with two or more
    # instances a canary first (this share of minInstances, at least one); each traffic step bakes
    # this long with the endpoint alarms watched; the old fleet stays this much longer before it goes.
    canary_percent: int = 25
    baking_minutes: int = 10
    termination_wait_minutes: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.canary_percent <= 50:  # SageMaker: at most half of the new fleet
            raise _fail("canaryPercent", self.canary_percent, "must be from 1 to 50", "25")
        if not _ENDPOINT_NAME.match(self.name):
            raise _fail("endpointName", self.name, "must be 1-63 letters, digits or hyphens", "skin-lesion")
        parse_choice("endpointType", self.endpoint_type, self.endpoint_type, ENDPOINT_TYPES)
        if not _INSTANCE_TYPE.match(self.instance_type):
            raise _fail(
                "instanceType", self.instance_type, "must be a SageMaker instance type", "ml.c5.xlarge"
            )
        if self.min_instances > self.max_instances:
            raise ConfigError(
                f"context 'minInstances' ({self.min_instances}) must not exceed 'maxInstances' "
                f"({self.max_instances}); pass e.g. `-c minInstances=1 -c maxInstances={self.max_instances}`"
            )
        if not self.min_instances <= self.instance_count <= self.max_instances:
            raise ConfigError(
                f"context 'instanceCount' ({self.instance_count}) must lie within minInstances.."
                f"maxInstances ({self.min_instances}..{self.max_instances}); "
                f"pass e.g. `-c instanceCount={self.min_instances}`"
            )
        if self.serverless_memory_mb not in SERVERLESS_MEMORY_CHOICES:
            raise _fail(
                "serverlessMemoryMb", self.serverless_memory_mb, "must be 1024..6144 in steps of 1024", "2048"
            )

    @property
    def serverless(self) -> bool:
        return self.endpoint_type == "serverless"

    @property
    def canary(self) -> bool:
        """A canary needs two instances at least: one can carry the new model while one keeps the old."""
        return not self.serverless and self.min_instances >= 2

    @property
    def instance_family(self) -> str:
        """`ml.m5d.large` -> `m5d`."""
        return self.instance_type.split(".")[1]


@dataclass(frozen=True)
class ApiSettings:
    """API Gateway throttling (requests per second, burst), WAF, access-log identity, the Lambda's size.

    The stage's limit is every method's default; the public routes (answered by API Gateway
    itself, never the Lambda), POST /predict and GET /model each have their own (docs/security.md).
    The local gateway enforces the same per-method token buckets.
    """

    throttle_rate_limit: float = 10.0
    throttle_burst_limit: int = 20
    public_rate_limit: float = 1.0
    public_burst_limit: int = 2
    predict_rate_limit: float = 5.0
    predict_burst_limit: int = 10
    model_rate_limit: float = 2.0
    model_burst_limit: int = 4
    # None: sized from the limits above and the Lambda's timeout (lambda_concurrency); 0: none.
    reserved_concurrency: int | None = None
    waf: bool = False
    waf_requests_per_5min: int = 300  # per client IP; WAF counts over a 5-minute window
    # The access log's `sub` and source IP: off unless asked (`-c accessLogIdentity=true`).
    access_log_identity: bool = False
    # API Gateway's CloudWatch role is one per account and region (AWS::ApiGateway::Account): the
    # stage's logs need it. On: the stack sets its own (replacing any the account has); off: it
    # keeps the account's, which must exist. `skinlesion preflight` says which applies.
    cloud_watch_role: bool = True
    # Not a context knob: image decoding (Pillow) needs it, and more memory also means more CPU.
    lambda_memory_mb: int = 1024

    def __post_init__(self) -> None:
        pairs = (
            ("throttleRateLimit", self.throttle_rate_limit, self.throttle_burst_limit),
            ("publicRateLimit", self.public_rate_limit, self.public_burst_limit),
            ("predictRateLimit", self.predict_rate_limit, self.predict_burst_limit),
            ("modelRateLimit", self.model_rate_limit, self.model_burst_limit),
        )
        for key, rate, burst in pairs:
            if burst < 1 or rate <= 0:
                raise _fail(key, rate, "and its burst must be positive", "1")

    def method_limits(self) -> dict[tuple[str, str], tuple[float, int]]:
        """{(path, method): (rate, burst)} of each route with its own limit; others get the stage's."""
        limits = {(contract.ROUTE_PREDICT, "POST"): (self.predict_rate_limit, self.predict_burst_limit)}
        limits[(contract.ROUTE_MODEL, "GET")] = (self.model_rate_limit, self.model_burst_limit)
        for route in contract.ROUTES:
            if route.public:
                limits[(route.path, route.method)] = (self.public_rate_limit, self.public_burst_limit)
        return limits

    def limit_of(self, path: str, method: str) -> tuple[float, int]:
        """The (rate, burst) API Gateway applies to one method."""
        default = (self.throttle_rate_limit, self.throttle_burst_limit)
        return self.method_limits().get((path, method), default)

    @property
    def lambda_concurrency(self) -> int:
        """Reserved concurrency for the API Lambda: what the throttles can admit at once.

        Each method that reaches the Lambda admits its burst at once and then `rate` per
        second; a request holds an instance for at most the Lambda's timeout. So at most
        sum(burst + rate * timeout) run together (Little's law with the worst duration);
        more would never be used, fewer would turn admitted requests into errors.
        """
        if self.reserved_concurrency is not None:
            return self.reserved_concurrency
        total = 0.0
        for route in contract.ROUTES:
            if not route.public:
                rate, burst = self.limit_of(route.path, route.method)
                total += burst + rate * contract.LAMBDA_TIMEOUT_S
        return math.ceil(total)


@dataclass(frozen=True)
class ModelSourceSettings:
    """Where the served model comes from: an existing artifact, the bundled one, or training."""

    source: str = "train"
    model_data_url: str | None = None
    bundled_path: Path = DEFAULT_BUNDLED_MODEL

    def __post_init__(self) -> None:
        parse_choice("model", self.source, self.source, MODEL_SOURCES)
        if self.model_data_url is not None:
            check_s3_model_uri("modelDataUrl", self.model_data_url)

    @property
    def kind(self) -> str:
        """`existing` when a modelDataUrl is given (it wins), else `bundled` or `train`."""
        return "existing" if self.model_data_url else self.source


@dataclass(frozen=True)
class TrainingSettings:
    """Knobs of the training pipeline; only read when the model source is `train`."""

    instance_type: str = "ml.p3.2xlarge"
    instance_count: int = 1
    max_runtime_hours: float = 4.0
    use_spot: bool = False
    dataset_limit: int | None = None
    dataset_uri: str | None = None
    min_auc: float = 0.80
    epochs: int = 10
    # Extra train.py arguments (`-c hyperparameters='{"learning-rate": 0.0005}'`), sorted pairs.
    hyperparameters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not _INSTANCE_TYPE.match(self.instance_type):
            raise _fail(
                "trainingInstanceType",
                self.instance_type,
                "must be a SageMaker instance type",
                TrainingSettings.instance_type,
            )
        if self.dataset_uri is not None:
            check_s3_prefix_uri("datasetUri", self.dataset_uri)


@dataclass(frozen=True)
class MonitoringSettings:
    """Who is told, and the alarms' thresholds (docs/operations.md explains each)."""

    alarm_email: str | None = None
    api_5xx_rate_pct: float = 5.0
    api_p99_latency_ms: float = 5000.0
    model_p99_latency_ms: float = 2000.0
    endpoint_4xx_per_minute: int = 5
    # The malignant share's band (percent): set it around the model's share on its validation data.
    malignant_share_low_pct: float = 5.0
    malignant_share_high_pct: float = 60.0
    refusal_share_high_pct: float = 30.0
    min_hourly_answers: int = 20
    drift_hours: int = 3

    def __post_init__(self) -> None:
        if self.alarm_email is not None and not _EMAIL.match(self.alarm_email):
            raise _fail("alarmEmail", self.alarm_email, "must be an e-mail address", "you@example.org")
        if self.malignant_share_low_pct >= self.malignant_share_high_pct:
            raise ConfigError(
                f"context 'malignantShareMin' ({self.malignant_share_low_pct:g}) must be below "
                f"'malignantShareMax' ({self.malignant_share_high_pct:g}); pass e.g. "
                "`-c malignantShareMin=5 -c malignantShareMax=60`"
            )


MFA_MODES = ("required", "optional")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class AuthSettings:
    """The cloud user pool: MFA (TOTP only) and its app client's tokens (docs/security.md)."""

    mfa: str = "required"  # `-c mfa=optional` for demos: users may still enrol TOTP
    # Cognito's threat protection (Plus feature plan: a per-user monthly cost).
    threat_protection: bool = False
    refresh_token_hours: int = 24  # with rotation: each refresh returns a new refresh token

    def __post_init__(self) -> None:
        parse_choice("mfa", self.mfa, self.mfa, MFA_MODES)

    @property
    def mfa_required(self) -> bool:
        return self.mfa == "required"


@dataclass(frozen=True)
class SiteSettings:
    """The web page's own domain on CloudFront (both or neither), served with TLS 1.2 at least."""

    domain_name: str | None = None
    certificate_arn: str | None = None  # an ACM certificate in us-east-1 (CloudFront's region)

    def __post_init__(self) -> None:
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise ConfigError(
                "context 'domainName' and 'certificateArn' go together; pass e.g. `-c domainName=lesions."
                "example.org -c certificateArn=arn:aws:acm:us-east-1:123456789012:certificate/<id>`"
            )
        if self.domain_name is not None and not _DOMAIN_NAME.match(self.domain_name):
            raise _fail(
                "domainName", self.domain_name, "must be a lower-case DNS name", "lesions.example.org"
            )
        if self.certificate_arn is not None and not _CERTIFICATE_ARN.match(self.certificate_arn):
            raise _fail(
                "certificateArn",
                self.certificate_arn,
                "must be an ACM certificate ARN in us-east-1 (CloudFront reads it there)",
                "arn:aws:acm:us-east-1:123456789012:certificate/<id>",
            )


@dataclass(frozen=True)
class AppConfig:
    """Everything the stack needs, validated; built by `AppConfig.from_context`.

    Each default is written once, on its dataclass field; `from_context` falls back to them.
    """

    region: str = DEFAULT_REGION
    account: str | None = None
    stack_id: str = "SkinLesion"
    retain_data: bool = False
    self_sign_up: bool = False
    site_dir: Path = DEFAULT_SITE_DIR
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    model: ModelSourceSettings = field(default_factory=ModelSourceSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    log_retention_days: int = 30  # every log group of the stack

    def __post_init__(self) -> None:
        if not _REGION.match(self.region):
            raise _fail("region", self.region, "must be an AWS region name", "eu-west-1")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise _fail(
                "logRetentionDays",
                self.log_retention_days,
                f"must be one of CloudWatch's periods ({', '.join(map(str, LOG_RETENTION_DAYS))})",
                "30",
            )

    @classmethod
    def from_context(cls, get: Callable[[str], Any], environ: Mapping[str, str]) -> AppConfig:
        """Build from `app.node.try_get_context` and the CLI's CDK_DEFAULT_* variables."""
        return cls(
            region=parse_optional_str(get("region")) or environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION,
            account=environ.get("CDK_DEFAULT_ACCOUNT") or None,
            stack_id=parse_optional_str(get("stackName")) or cls.stack_id,
            retain_data=parse_bool("retainData", get("retainData"), cls.retain_data),
            self_sign_up=parse_bool("selfSignUp", get("selfSignUp"), cls.self_sign_up),
            site_dir=_path(get("siteDir"), DEFAULT_SITE_DIR),
            endpoint=_endpoint_from(get),
            api=_api_from(get),
            model=ModelSourceSettings(
                source=parse_choice("model", get("model"), ModelSourceSettings.source, MODEL_SOURCES),
                model_data_url=parse_optional_str(get("modelDataUrl")),
                bundled_path=_path(get("bundledModelPath"), DEFAULT_BUNDLED_MODEL),
            ),
            training=_training_from(get),
            monitoring=_monitoring_from(get),
            auth=AuthSettings(
                mfa=parse_choice("mfa", get("mfa"), AuthSettings.mfa, MFA_MODES),
                threat_protection=parse_bool(
                    "threatProtection", get("threatProtection"), AuthSettings.threat_protection
                ),
            ),
            site=SiteSettings(
                domain_name=parse_optional_str(get("domainName")),
                certificate_arn=parse_optional_str(get("certificateArn")),
            ),
            log_retention_days=parse_int(
                "logRetentionDays", get("logRetentionDays"), cls.log_retention_days, low=1, high=3653
            ),
        )


def _path(value: Any, default: Path) -> Path:
    text = parse_optional_str(value)
    if text is None:
        return default
    path = Path(text)
    return path if path.is_absolute() else REPO_ROOT / path


def _api_from(get: Callable[[str], Any]) -> ApiSettings:
    d = ApiSettings
    return ApiSettings(
        throttle_rate_limit=parse_float(
            "throttleRateLimit", get("throttleRateLimit"), d.throttle_rate_limit, low=1, high=10000
        ),
        throttle_burst_limit=parse_int(
            "throttleBurstLimit", get("throttleBurstLimit"), d.throttle_burst_limit, low=1, high=5000
        ),
        public_rate_limit=parse_float(
            "publicRateLimit", get("publicRateLimit"), d.public_rate_limit, low=0.1, high=10000
        ),
        public_burst_limit=parse_int(
            "publicBurstLimit", get("publicBurstLimit"), d.public_burst_limit, low=1, high=5000
        ),
        predict_rate_limit=parse_float(
            "predictRateLimit", get("predictRateLimit"), d.predict_rate_limit, low=0.1, high=10000
        ),
        predict_burst_limit=parse_int(
            "predictBurstLimit", get("predictBurstLimit"), d.predict_burst_limit, low=1, high=5000
        ),
        model_rate_limit=parse_float(
            "modelRateLimit", get("modelRateLimit"), d.model_rate_limit, low=0.1, high=10000
        ),
        model_burst_limit=parse_int(
            "modelBurstLimit", get("modelBurstLimit"), d.model_burst_limit, low=1, high=5000
        ),
        reserved_concurrency=None
        if parse_optional_str(get("reservedConcurrency")) in (None, "auto")
        else parse_int("reservedConcurrency", get("reservedConcurrency"), 0, low=0, high=10000),
        waf=parse_bool("waf", get("waf"), d.waf),
        waf_requests_per_5min=parse_int(
            "wafRequestsPer5Min",
            get("wafRequestsPer5Min"),
            d.waf_requests_per_5min,
            low=10,
            high=2_000_000_000,
        ),
        access_log_identity=parse_bool("accessLogIdentity", get("accessLogIdentity"), d.access_log_identity),
        cloud_watch_role=parse_bool(
            "apiGatewayCloudWatchRole", get("apiGatewayCloudWatchRole"), d.cloud_watch_role
        ),
    )


def _endpoint_from(get: Callable[[str], Any]) -> EndpointSettings:
    d = EndpointSettings
    count = parse_int("instanceCount", get("instanceCount"), d.instance_count, low=1, high=100)
    return EndpointSettings(
        name=parse_optional_str(get("endpointName")) or d.name,
        endpoint_type=parse_choice("endpointType", get("endpointType"), d.endpoint_type, ENDPOINT_TYPES),
        instance_type=parse_optional_str(get("instanceType")) or d.instance_type,
        instance_count=count,
        # The autoscaling bounds follow the count: min = count, max = max(default max, count).
        min_instances=parse_int("minInstances", get("minInstances"), count, low=1, high=100),
        max_instances=parse_int(
            "maxInstances", get("maxInstances"), max(d.max_instances, count), low=1, high=100
        ),
        target_invocations_per_instance=parse_int(
            "targetInvocationsPerInstance",
            get("targetInvocationsPerInstance"),
            d.target_invocations_per_instance,
            low=1,
            high=100000,
        ),
        serverless_memory_mb=parse_int(
            "serverlessMemoryMb", get("serverlessMemoryMb"), d.serverless_memory_mb, low=1024, high=6144
        ),
        serverless_max_concurrency=parse_int(
            "serverlessMaxConcurrency",
            get("serverlessMaxConcurrency"),
            d.serverless_max_concurrency,
            low=1,
            high=200,
        ),
        canary_percent=parse_int("canaryPercent", get("canaryPercent"), d.canary_percent, low=1, high=50),
        baking_minutes=parse_int("bakingMinutes", get("bakingMinutes"), d.baking_minutes, low=0, high=60),
        termination_wait_minutes=parse_int(
            "terminationWaitMinutes",
            get("terminationWaitMinutes"),
            d.termination_wait_minutes,
            low=0,
            high=60,
        ),
    )


def _monitoring_from(get: Callable[[str], Any]) -> MonitoringSettings:
    d = MonitoringSettings
    return MonitoringSettings(
        alarm_email=parse_optional_str(get("alarmEmail")),
        malignant_share_low_pct=parse_float(
            "malignantShareMin", get("malignantShareMin"), d.malignant_share_low_pct, low=0, high=100
        ),
        malignant_share_high_pct=parse_float(
            "malignantShareMax", get("malignantShareMax"), d.malignant_share_high_pct, low=0, high=100
        ),
        refusal_share_high_pct=parse_float(
            "refusalShareMax", get("refusalShareMax"), d.refusal_share_high_pct, low=0, high=100
        ),
    )


def _training_from(get: Callable[[str], Any]) -> TrainingSettings:
    d = TrainingSettings
    limit = get("datasetLimit")
    return TrainingSettings(
        instance_type=parse_optional_str(get("trainingInstanceType")) or d.instance_type,
        instance_count=parse_int(
            "trainingInstanceCount", get("trainingInstanceCount"), d.instance_count, low=1, high=16
        ),
        # 11 h: the deploy waits at most 12 h (CloudFormation's WaitCondition cap) incl. start-up.
        max_runtime_hours=parse_float(
            "trainingMaxHours", get("trainingMaxHours"), d.max_runtime_hours, low=0.1, high=11.0
        ),
        use_spot=parse_bool("trainingSpot", get("trainingSpot"), d.use_spot),
        dataset_limit=None if limit is None else parse_int("datasetLimit", limit, 10, low=10, high=1_000_000),
        dataset_uri=parse_optional_str(get("datasetUri")),
        min_auc=parse_float("minAuc", get("minAuc"), d.min_auc, low=0.5, high=1.0),
        epochs=parse_int("epochs", get("epochs"), d.epochs, low=1, high=500),
        hyperparameters=parse_hyperparameters(get("hyperparameters")),
    )
