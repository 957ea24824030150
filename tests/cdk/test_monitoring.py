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


def test_the_dashboard_url_opens_this_dashboard_in_the_console(ops):
    monitoring, _ = ops
    stack = monitoring.node.scope
    url = json.dumps(stack.resolve(monitoring.dashboard_url))

    assert "/cloudwatch/home?region=" in url and "#dashboards:name=" in url
    assert stack.resolve(monitoring.dashboard.dashboard_name) in [
        part for part in stack.resolve(monitoring.dashboard_url)["Fn::Join"][1] if isinstance(part, dict)
    ]


# --- the real stack (app.build): wiring, the endpoint's guardrails, retention, knobs ---------------


@pytest.fixture(scope="module")
def tuned(synth) -> Any:
    """Two instances, an owner's e-mail, a longer retention and a shorter bake."""
    return synth(
        model="bundled",
        instanceCount="2",
        canaryPercent="20",
        bakingMinutes="5",
        terminationWaitMinutes="2",
        alarmEmail="owner@example.com",
        logRetentionDays="90",
    )[1]


@pytest.fixture(scope="module")
def trained(synth) -> Any:
    return synth(model="train")[1]


def _endpoint(template: Any) -> dict[str, Any]:
    [endpoint] = resources(template, "AWS::SageMaker::Endpoint").values()
    return endpoint


def _rollback_alarm_ids(template: Any) -> list[str]:
    config = _endpoint(template)["Properties"]["DeploymentConfig"]
    return [alarm["AlarmName"]["Ref"] for alarm in config["AutoRollbackConfiguration"]["Alarms"]]


def test_the_stack_outputs_its_dashboard_url_and_alarm_topic(template):
    outputs = template.to_json()["Outputs"]

    assert "#dashboards:name=" in json.dumps(outputs["DashboardUrl"]["Value"])
    [topic_id] = resources(template, "AWS::SNS::Topic")
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}


def test_a_one_instance_endpoint_updates_all_at_once_bakes_and_rolls_back_on_the_endpoint_alarms(template):
    policy = _endpoint(template)["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]

    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600}
    assert policy["TerminationWaitInSeconds"] == 0
    assert policy["MaximumExecutionTimeoutInSeconds"] > 600
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    rollback = _rollback_alarm_ids(template)
    assert sorted(rollback) == sorted(k for k in alarms if k.startswith("MonitoringEndpoint"))
    assert len(rollback) == 3
    for alarm_id in rollback:
        dims = {d["Name"]: d["Value"] for d in alarms[alarm_id]["Properties"]["Dimensions"]}
        assert dims == {"EndpointName": "skin-lesion-classifier", "VariantName": "AllTraffic"}


def test_two_instances_get_a_canary_of_the_configured_size_and_bake(tuned):
    policy = _endpoint(tuned)["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]

    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},  # 20 % of 2, rounded down, at least 1
        "WaitIntervalInSeconds": 300,
    }
    assert policy["TerminationWaitInSeconds"] == 120
    # longer than both bakes and the termination wait together
    assert policy["MaximumExecutionTimeoutInSeconds"] > 2 * 300 + 120
    assert len(_rollback_alarm_ids(tuned)) == 3


def test_a_serverless_endpoint_keeps_sagemakers_default_update(synth):
    _, template = synth(model="bundled", endpointType="serverless")

    assert "DeploymentConfig" not in _endpoint(template)["Properties"]
    titles = _titles(template)
    assert "Serverless cold starts: ModelSetupTime (µs)" in titles


@pytest.mark.parametrize(("variant", "days"), [("template", 30), ("trained", 30), ("tuned", 90)])
def test_every_log_group_keeps_its_events_for_the_retention_knob(request, variant, days):
    template = request.getfixturevalue(variant)
    groups = resources(template, "AWS::Logs::LogGroup")

    assert groups and {k: g["Properties"].get("RetentionInDays") for k, g in groups.items()} == {
        k: days for k in groups
    }
    names_ = [json.dumps(g["Properties"].get("LogGroupName")) for g in groups.values()]
    # the groups services would otherwise create with no expiry are the stack's own
    assert any("/aws/sagemaker/Endpoints/skin-lesion-classifier" in n for n in names_)
    assert any("API-Gateway-Execution-Logs_" in n for n in names_)
    assert all(g["DeletionPolicy"] == "Delete" for g in groups.values())


def test_the_email_is_subscribed_only_when_alarm_email_is_given(template, tuned):
    assert resources(template, "AWS::SNS::Subscription") == {}
    [subscription] = resources(tuned, "AWS::SNS::Subscription").values()
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == (
        "email",
        "owner@example.com",
    )
    # the alarms exist either way
    assert len(resources(template, "AWS::CloudWatch::Alarm")) == len(
        resources(tuned, "AWS::CloudWatch::Alarm")
    )


def test_the_alarms_read_the_service_and_namespace_the_lambda_writes(template):
    [function] = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("predict_api")
    ]
    env = function["Properties"]["Environment"]["Variables"]
    alarm = _alarms(template)["MalignantShareHigh"]
    [stat, *_] = [q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q]
    dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}

    assert stat["Metric"]["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert dims["service"] == env["POWERTOOLS_SERVICE_NAME"]


def test_training_jobs_of_this_stack_notify_the_topic_when_they_end(trained):
    rules = [
        r
        for r in resources(trained, "AWS::Events::Rule").values()
        if "TrainingJobStatus" in json.dumps(r)
        and any(t["Arn"] == _topic_ref(trained) for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 2
    assert "Training job outcomes (per day)" in _titles(trained)


@pytest.mark.parametrize(
    ("context", "knob"),
    [
        ({"alarmEmail": "not-an-address"}, "alarmEmail"),
        ({"logRetentionDays": "31"}, "logRetentionDays"),
        ({"canaryPercent": "60"}, "canaryPercent"),
        ({"bakingMinutes": "61"}, "bakingMinutes"),
        ({"malignantShareMin": "70"}, "malignantShareMin"),
    ],
)
def test_bad_operations_knobs_fail_synth_naming_the_knob(context, knob):
    from stacks.config import AppConfig, ConfigError

    with pytest.raises(ConfigError, match=knob):
        AppConfig.from_context(context.get, {})


def test_operations_defaults_are_written_once_on_the_dataclasses():
    from stacks.config import AppConfig, EndpointSettings, MonitoringSettings

    config = AppConfig.from_context({}.get, {})
    assert config.log_retention_days == AppConfig.log_retention_days == 30
    assert config.monitoring == MonitoringSettings()
    assert (config.endpoint.canary_percent, config.endpoint.baking_minutes) == (
        EndpointSettings.canary_percent,
        EndpointSettings.baking_minutes,
    )


def test_the_api_stage_and_the_lambda_are_traced_with_xray(template):
    [stage] = resources(template, "AWS::ApiGateway::Stage").values()
    [function] = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("predict_api")
    ]

    assert stage["Properties"]["TracingEnabled"] is True
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(
    ("min_instances", "percent", "canary"),
    [(2, 25, 1), (2, 50, 1), (4, 50, 2), (10, 25, 2), (10, 1, 1), (3, 50, 1)],
)
def test_the_canary_is_at_most_half_of_the_smallest_fleet_and_at_least_one_instance(
    min_instances, percent, canary
):
    from stacks.config import EndpointSettings
    from stacks.constructs.deployment_guardrails import canary_instances

    settings = EndpointSettings(
        instance_count=min_instances, min_instances=min_instances, max_instances=20, canary_percent=percent
    )
    assert canary_instances(settings) == canary
    assert canary_instances(settings) <= min_instances / 2
