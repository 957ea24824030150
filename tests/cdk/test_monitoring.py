"""Operations in the template: the alarm topic, each alarm with its metric, threshold and action, and
the dashboard with a widget for each layer (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lesion_contract import metrics as names

from .helpers import resources

NAMESPACE, SERVICE, ENDPOINT = "SkinLesion", "skin-lesion-api", "skin-lesion-classifier"


def _monitoring_stack(**settings: Any) -> Any:
    """A small stack: a REST API, a Lambda, and Monitoring over them (the real stack: test_stack)."""
    import aws_cdk as cdk
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template

    from stacks.config import MonitoringSettings
    from stacks.constructs.monitoring import Monitoring
    from stacks.constructs.monitoring_metrics import ServiceMetrics

    training = settings.pop("training_job_prefix", None)
    serverless = settings.pop("serverless", False)
    stack = cdk.Stack(cdk.App(), "Ops", env=cdk.Environment(region="eu-west-1"))
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c):\n    return {}"),
    )
    api = apigw.LambdaRestApi(stack, "Api", handler=function)
    metrics = ServiceMetrics(
        api=api,
        function=function,
        endpoint_name=ENDPOINT,
        variant_name="AllTraffic",
        namespace=NAMESPACE,
        service=SERVICE,
    )
    monitoring = Monitoring(
        stack,
        "Monitoring",
        metrics=metrics,
        settings=MonitoringSettings(**settings),
        serverless=serverless,
        training_job_prefix=training,
    )
    return monitoring, Template.from_stack(stack)


@pytest.fixture(scope="module")
def ops() -> tuple[Any, Any]:
    return _monitoring_stack(alarm_email="owner@example.com", training_job_prefix="skinlesion")


def _alarms(template: Any) -> dict[str, dict[str, Any]]:
    """{construct id: alarm properties}, keyed by the id in the logical id (Monitoring<Id>…)."""
    found = {}
    for logical_id, resource in resources(template, "AWS::CloudWatch::Alarm").items():
        found[logical_id.removeprefix("Monitoring")[:-8]] = resource["Properties"]
    return found


def _topic_ref(template: Any) -> dict[str, str]:
    [topic_id] = resources(template, "AWS::SNS::Topic")
    return {"Ref": topic_id}


EXPECTED_ALARMS = {
    "Api5xxRate",
    "ApiLatencyP99",
    "LambdaErrors",
    "LambdaThrottles",
    "Endpoint5xx",
    "Endpoint4xx",
    "EndpointModelLatency",
    "MalignantShareHigh",
    "MalignantShareLow",
    "RefusalShareHigh",
}


def test_every_alarm_exists_notifies_the_topic_and_says_what_to_look_at(ops):
    _, template = ops
    alarms = _alarms(template)

    assert set(alarms) == EXPECTED_ALARMS
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [_topic_ref(template)], name
        assert alarm["OKActions"] == [_topic_ref(template)], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        what, first = alarm["AlarmDescription"].split(" Look first at ")
        assert len(what) > 30 and len(first) > 30, name


def _metric(alarm: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    return alarm["Namespace"], alarm["MetricName"], dims


def test_service_alarms_read_the_right_metric_with_their_threshold(ops):
    _, template = ops
    alarms = _alarms(template)

    api_5xx = alarms["Api5xxRate"]
    assert _metric(api_5xx)[:2] == ("AWS/ApiGateway", "5XXError")
    assert (api_5xx["Statistic"], api_5xx["Threshold"], api_5xx["ComparisonOperator"]) == (
        "Average",
        0.05,
        "GreaterThanThreshold",
    )
    p99 = alarms["ApiLatencyP99"]
    assert (_metric(p99)[1], p99["ExtendedStatistic"], p99["Threshold"]) == ("Latency", "p99", 5000)
    for name, metric in (("LambdaErrors", "Errors"), ("LambdaThrottles", "Throttles")):
        alarm = alarms[name]
        assert _metric(alarm)[:2] == ("AWS/Lambda", metric)
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )


def test_endpoint_alarms_watch_the_configured_endpoint_by_the_minute(ops):
    monitoring, template = ops
    alarms = _alarms(template)

    for name, metric in (
        ("Endpoint5xx", "Invocation5XXErrors"),
        ("Endpoint4xx", "Invocation4XXErrors"),
        ("EndpointModelLatency", "ModelLatency"),
    ):
        namespace, metric_name, dims = _metric(alarms[name])
        assert (namespace, metric_name) == ("AWS/SageMaker", metric)
        assert dims == {"EndpointName": ENDPOINT, "VariantName": "AllTraffic"}  # a literal: no cycle
        assert alarms[name]["Period"] == 60
    assert alarms["EndpointModelLatency"]["Threshold"] == 2_000_000  # microseconds
    assert [a.node.id for a in monitoring.endpoint_alarms] == [
        "Endpoint5xx",
        "Endpoint4xx",
        "EndpointModelLatency",
    ]


def _expression(alarm: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    queries = alarm["Metrics"]
    [expression] = [q["Expression"] for q in queries if "Expression" in q]
    inputs = {q["Id"]: q["MetricStat"] for q in queries if "MetricStat" in q}
    return expression, inputs


@pytest.mark.parametrize(
    ("name", "operator", "threshold", "outcomes"),
    [
        ("MalignantShareHigh", "GreaterThanThreshold", 60, {"benign", "malignant"}),
        ("MalignantShareLow", "LessThanThreshold", 5, {"benign", "malignant"}),
        ("RefusalShareHigh", "GreaterThanThreshold", 30, {"benign", "malignant", names.REFUSAL}),
    ],
)
def test_share_alarms_are_hourly_bands_over_the_lambdas_outcome_counts(
    ops, name, operator, threshold, outcomes
):
    _, template = ops
    alarm = _alarms(template)[name]
    expression, inputs = _expression(alarm)

    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (operator, threshold)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3  # sustained: 3 hours
    assert ">= 20" in expression  # quiet hours do not count
    seen = set()
    for stat in inputs.values():
        metric = stat["Metric"]
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert (metric["Namespace"], metric["MetricName"], stat["Stat"], stat["Period"]) == (
            NAMESPACE,
            names.REQUESTS,
            "Sum",
            3600,
        )
        assert dims["service"] == SERVICE and set(dims) == {"service", "outcome"}
        seen.add(dims["outcome"])
    assert seen == outcomes


def test_a_quiet_hour_reads_as_inside_the_band(ops):
    # Below the minimum count the high alarms see 0 and the low alarm sees 100: none breaches.
    _, template = ops
    alarms = _alarms(template)

    assert _expression(alarms["MalignantShareHigh"])[0].endswith(", 0)")
    assert _expression(alarms["RefusalShareHigh"])[0].endswith(", 0)")
    assert _expression(alarms["MalignantShareLow"])[0].endswith(", 100)")


def test_the_topic_is_kms_encrypted_tls_only_and_subscribes_the_email_given(ops):
    _, template = ops
    [topic] = resources(template, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    [policy] = resources(template, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    [subscription] = resources(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "owner@example.com"
    [key] = resources(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    services = json.dumps(key["Properties"]["KeyPolicy"])
    assert "cloudwatch.amazonaws.com" in services and "events.amazonaws.com" in services


def test_without_alarm_email_the_alarms_and_topic_exist_but_nobody_is_subscribed():
    _, template = _monitoring_stack()
    assert resources(template, "AWS::SNS::Subscription") == {}
    assert len(resources(template, "AWS::SNS::Topic")) == 1
    assert set(_alarms(template)) == EXPECTED_ALARMS


def _dashboard_body(template: Any) -> dict[str, Any]:
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):  # Fn::Join of literal parts and tokens
        body = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
    return json.loads(body)


def _titles(template: Any) -> list[str]:
    return [w["properties"].get("title", "") for w in _dashboard_body(template)["widgets"]]


def test_the_dashboard_has_a_widget_for_each_layer(ops):
    _, template = ops
    titles = _titles(template)

    for expected in (
        "API requests",
        "API 4xx and 5xx",
        "API latency (ms)",
        "Lambda errors and throttles",
        "Lambda duration (ms)",
        "Lambda concurrency",
        "Endpoint invocations, 4xx, 5xx",
        "Endpoint model and overhead latency (µs)",
        "Endpoint CPU and memory (%)",
        "Malignant share per hour (%)",
        "Refusal share per hour: not_a_skin_lesion (%)",
        "Requests by outcome (per hour)",
        "Images by longest side (per hour)",
        "Training job outcomes (per day)",
    ):
        assert expected in titles


def test_the_latency_widgets_show_p50_p90_p99_and_the_outcomes_include_every_error_code(ops):
    _, template = ops
    widgets = {w["properties"].get("title"): w["properties"] for w in _dashboard_body(template)["widgets"]}

    api_latency = json.dumps(widgets["API latency (ms)"]["metrics"])
    assert all(f'"stat": "{p}"' in api_latency for p in ("p50", "p90", "p99"))
    outcomes = json.dumps(widgets["Requests by outcome (per hour)"]["metrics"])
    import lesion_contract as contract

    for code in [c for s, c in contract.ERROR_CODES.items() if s not in (401, 403)] + [
        names.REFUSAL,
        "malignant",
    ]:
        assert f'"{code}"' in outcomes, code


def test_serverless_shows_cold_starts_instead_of_instance_cpu_and_no_training_row_without_training():
    _, template = _monitoring_stack(serverless=True)
    titles = _titles(template)

    assert "Serverless cold starts: ModelSetupTime (µs)" in titles
    assert "Endpoint CPU and memory (%)" not in titles
    assert "Training job outcomes (per day)" not in titles
    assert resources(template, "AWS::Events::Rule") == {}


def test_training_outcomes_notify_the_topic_one_rule_per_outcome(ops):
    _, template = ops
    rules = resources(template, "AWS::Events::Rule").values()
    statuses = sorted(tuple(r["Properties"]["EventPattern"]["detail"]["TrainingJobStatus"]) for r in rules)

    assert statuses == [("Completed",), ("Failed", "Stopped")]
    for rule in rules:
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["detail"]["TrainingJobName"] == [{"prefix": "skinlesion-"}]
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == _topic_ref(template)


def test_the_dashboard_url_is_an_output(ops):
    _, template = ops
    outputs = template.to_json()["Outputs"]
    [url] = [v for k, v in outputs.items() if k.startswith("MonitoringDashboardUrl")]
    assert "#dashboards:name=" in json.dumps(url["Value"])
