"""The CloudWatch dashboard: one row per layer, from the API down to the model and its answers."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from constructs import Construct

from lesion_contract import metrics as names
from stacks.constructs.monitoring_metrics import HOUR, OUTCOMES, ServiceMetrics

WIDTH = 8  # three widgets a row (the grid is 24 wide)
PERCENTILES = ("p50", "p90", "p99")


def _graph(title: str, left: list[cw.IMetric], **kwargs: object) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=left, width=WIDTH, height=6, **kwargs)  # type: ignore[arg-type]


def _labelled(metric: cw.Metric, label: str) -> cw.Metric:
    return metric.with_(label=label)


def build_dashboard(
    scope: Construct,
    id_: str,
    *,
    metrics: ServiceMetrics,
    serverless: bool,
    training_rules: list[events.Rule],
) -> cw.Dashboard:
    """The dashboard; the training row only when this stack trains."""
    rows = [
        _api_row(metrics),
        _lambda_row(metrics),
        _endpoint_row(metrics, serverless),
        _answers_row(metrics),
        _inputs_row(metrics, training_rules),
    ]
    return cw.Dashboard(scope, id_, default_interval=Duration.days(1), widgets=rows)


def _api_row(m: ServiceMetrics) -> list[cw.IWidget]:
    return [
        _graph("API requests", [_labelled(m.api_requests(), "requests")]),
        _graph("API 4xx and 5xx", [_labelled(m.api_4xx(), "4xx"), _labelled(m.api_5xx(), "5xx")]),
        _graph("API latency (ms)", [_labelled(m.api_latency(p), p) for p in PERCENTILES]),
    ]


def _lambda_row(m: ServiceMetrics) -> list[cw.IWidget]:
    return [
        _graph(
            "Lambda errors and throttles",
            [_labelled(m.lambda_errors(), "errors"), _labelled(m.lambda_throttles(), "throttles")],
        ),
        _graph("Lambda duration (ms)", [_labelled(m.lambda_duration(p), p) for p in PERCENTILES]),
        _graph("Lambda concurrency", [_labelled(m.lambda_concurrency(), "concurrent executions")]),
    ]


def _endpoint_row(m: ServiceMetrics, serverless: bool) -> list[cw.IWidget]:
    per_5 = Duration.minutes(5)
    calls = _graph(
        "Endpoint invocations, 4xx, 5xx",
        [
            _labelled(m.endpoint("Invocations", "Sum", per_5), "invocations"),
            _labelled(m.endpoint("Invocation4XXErrors", "Sum", per_5), "4xx"),
            _labelled(m.endpoint("Invocation5XXErrors", "Sum", per_5), "5xx"),
        ],
    )
    latency = _graph(
        "Endpoint model and overhead latency (µs)",
        [
            _labelled(m.endpoint("ModelLatency", "p50", per_5), "model p50"),
            _labelled(m.endpoint("ModelLatency", "p99", per_5), "model p99"),
            _labelled(m.endpoint("OverheadLatency", "p99", per_5), "overhead p99"),
        ],
    )
    if serverless:
        # Serverless endpoints publish no instance metrics; cold starts show as ModelSetupTime.
        resources = _graph(
            "Serverless cold starts: ModelSetupTime (µs)",
            [_labelled(m.endpoint("ModelSetupTime", "Maximum", per_5), "setup time (max)")],
        )
    else:
        resources = _graph(
            "Endpoint CPU and memory (%)",
            [
                _labelled(m.endpoint_instance("CPUUtilization"), "CPU (all cores)"),
                _labelled(m.endpoint_instance("MemoryUtilization"), "memory"),
            ],
        )
    return [calls, latency, resources]


def _answers_row(m: ServiceMetrics) -> list[cw.IWidget]:
    return [
        _graph("Malignant share per hour (%)", [m.malignant_share()], period=HOUR),
        _graph("Refusal share per hour: not_a_skin_lesion (%)", [m.refusal_share()], period=HOUR),
        _graph(
            "Requests by outcome (per hour)",
            [_labelled(m.outcome(outcome), outcome) for outcome in OUTCOMES],
            period=HOUR,
            stacked=True,
        ),
    ]


def _inputs_row(m: ServiceMetrics, training_rules: list[events.Rule]) -> list[cw.IWidget]:
    per_5 = Duration.minutes(5)
    row: list[cw.IWidget] = [
        _graph(
            "Images by longest side (per hour)",
            [_labelled(m.emf(names.IMAGES, "Sum", HOUR, size=name), name) for _, name in names.SIZE_BUCKETS],
            period=HOUR,
            stacked=True,
        ),
        _graph(
            "Image bytes and endpoint call (Lambda's view)",
            [
                _labelled(m.emf(names.IMAGE_BYTES, "p50", per_5), "upload bytes p50"),
                _labelled(m.emf(names.ENDPOINT_BYTES, "p50", per_5), "sent to endpoint p50"),
            ],
            right=[_labelled(m.emf(names.ENDPOINT_LATENCY, "p99", per_5), "endpoint call p99 (ms)")],
        ),
    ]
    if training_rules:
        row.append(
            _graph(
                "Training job outcomes (per day)",
                [
                    cw.Metric(
                        namespace="AWS/Events",
                        metric_name="TriggeredRules",
                        dimensions_map={"RuleName": rule.rule_name},
                        statistic="Sum",
                        period=Duration.days(1),
                        label=rule.node.id,
                    )
                    for rule in training_rules
                ],
                period=Duration.days(1),
            )
        )
    return row
