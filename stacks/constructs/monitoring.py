"""Operations: the alarm topic (KMS-encrypted, TLS only, e-mail when asked), the alarms, the dashboard.

Every alarm notifies the one SNS topic on ALARM and on OK, and its description
says what to look at first (docs/operations.md has the longer version). The
endpoint's alarms (`endpoint_alarms`) are the ones SageMaker watches while it
bakes a new model (InferenceEndpoint.roll_back_on): they read the endpoint's
metrics by its configured name, so they exist before the endpoint does and a
deploy can name them without a dependency cycle.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import MonitoringSettings
from stacks.constructs.monitoring_dashboard import build_dashboard
from stacks.constructs.monitoring_metrics import ServiceMetrics

GT = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
GE = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LT = cw.ComparisonOperator.LESS_THAN_THRESHOLD


class Monitoring(Construct):
    """Alarms on the API, the Lambda, the endpoint and the answers' mix; one dashboard; one topic."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        metrics: ServiceMetrics,
        settings: MonitoringSettings,
        serverless: bool,
        training_job_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.metrics, self.settings = metrics, settings
        self.topic = self._topic()
        self.alarms: dict[str, cw.Alarm] = {}
        self._service_alarms()
        self.endpoint_alarms = self._endpoint_alarms()
        self._drift_alarms()
        self.training_rules = self._training_rules(training_job_prefix) if training_job_prefix else []
        self.dashboard = build_dashboard(
            self, "Dashboard", metrics=metrics, serverless=serverless, training_rules=self.training_rules
        )
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.{Aws.URL_SUFFIX}/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={self.dashboard.dashboard_name}"
        )

    # --- topic
    def _topic(self) -> sns.Topic:
        key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the skin-lesion alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch (alarms) and EventBridge (training outcomes) publish to the encrypted topic.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        topic = sns.Topic(
            self, "AlarmTopic", display_name="Skin-lesion classifier alarms", master_key=key, enforce_ssl=True
        )
        if self.settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

    def _alarm(
        self,
        id_: str,
        *,
        metric: cw.IMetric,
        threshold: float,
        operator: cw.ComparisonOperator,
        periods: int,
        datapoints: int | None = None,
        what: str,
        first: str,
    ) -> cw.Alarm:
        """An alarm on the topic; its description says what happened and where to look first."""
        alarm = cw.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            comparison_operator=operator,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints or periods,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{what} Look first at {first}",
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[id_] = alarm
        return alarm

    # --- alarms
    def _service_alarms(self) -> None:
        m, s = self.metrics, self.settings
        self._alarm(
            "Api5xxRate",
            metric=m.api_5xx_rate(),
            threshold=s.api_5xx_rate_pct / 100,
            operator=GT,
            periods=3,
            datapoints=2,
            what=f"More than {s.api_5xx_rate_pct:g}% of API requests got a 5xx in 2 of 3 "
            "five-minute periods.",
            first="the dashboard's 'Requests by outcome': model_unavailable or model_timeout point at the "
            "endpoint (its 5xx and latency widgets), internal_error at the Lambda's log (level ERROR; "
            "follow the correlation_id).",
        )
        self._alarm(
            "ApiLatencyP99",
            metric=m.api_latency("p99"),
            threshold=s.api_p99_latency_ms,
            operator=GT,
            periods=3,
            what=f"API p99 latency above {s.api_p99_latency_ms:g} ms for 15 minutes.",
            first="the endpoint's ModelLatency beside the Lambda's EndpointLatency: a slow model needs CPU "
            "or more instances (maxInstances); a slow Lambda alone points at ImageBytes and the image "
            "sizes (large uploads decode longer).",
        )
        self._alarm(
            "LambdaErrors",
            metric=m.lambda_errors(),
            threshold=1,
            operator=GE,
            periods=1,
            what="The predict Lambda failed outside its own error handling (crash, timeout, out of memory, "
            "or an init failure such as a missing ENDPOINT_NAME).",
            first="the function's log group around the alarm time: search for 'Task timed out', "
            "'Runtime.' or 'Traceback'.",
        )
        self._alarm(
            "LambdaThrottles",
            metric=m.lambda_throttles(),
            threshold=1,
            operator=GE,
            periods=1,
            what="Lambda throttled the predict function: the account's concurrency is used up.",
            first="the dashboard's Lambda concurrency and the account's other functions; raise the "
            "account quota or lower the API stage throttling (throttleRateLimit).",
        )

    def _endpoint_alarms(self) -> list[cw.Alarm]:
        m, s = self.metrics, self.settings
        latency_us = s.model_p99_latency_ms * 1000  # ModelLatency is in microseconds
        return [
            self._alarm(
                "Endpoint5xx",
                metric=m.endpoint("Invocation5XXErrors", "Sum"),
                threshold=1,
                operator=GE,
                periods=3,
                datapoints=2,
                what="The SageMaker endpoint answered 5xx in 2 of 3 minutes; during a model update this "
                "rolls the deploy back.",
                first="the endpoint's log group (/aws/sagemaker/Endpoints/<name>) for TF Serving or "
                "inference.py errors, then the instances' memory.",
            ),
            self._alarm(
                "Endpoint4xx",
                metric=m.endpoint("Invocation4XXErrors", "Sum"),
                threshold=s.endpoint_4xx_per_minute,
                operator=GE,
                periods=3,
                datapoints=2,
                what="The endpoint refused requests the Lambda had already validated, in 2 of 3 minutes: "
                "usually a model that cannot read what the previous one could (a ModelError); during a "
                "model update this rolls the deploy back.",
                first="the endpoint's log group, then the new artifact's signature and metadata.json.",
            ),
            self._alarm(
                "EndpointModelLatency",
                metric=m.endpoint("ModelLatency", "p99"),
                threshold=latency_us,
                operator=GT,
                periods=3,
                what=f"Model p99 latency above {s.model_p99_latency_ms:g} ms for 3 minutes; during a model "
                "update this rolls the deploy back.",
                first="CPUUtilization and invocations per instance (autoscaling bounds), then whether the "
                "new model is larger than the last.",
            ),
        ]

    def _drift_alarms(self) -> None:
        m, s = self.metrics, self.settings
        hours, low, high = s.drift_hours, s.malignant_share_low_pct, s.malignant_share_high_pct
        common = (
            f"for {hours} hours in a row (hours with fewer than {s.min_hourly_answers} answers "
            "do not count). "
        )
        self._alarm(
            "MalignantShareHigh",
            metric=m.malignant_share(min_count=s.min_hourly_answers, when_too_few=0),
            threshold=high,
            operator=GT,
            periods=hours,
            what=f"Malignant answers above {high:g}% of predictions {common}Inputs may have changed (new "
            "camera, new clinic, non-dermoscopic photos) or a new model's threshold is off.",
            first="the model's validation share (GET /model) and version, then the refusal share and the "
            "image-size mix on the dashboard.",
        )
        self._alarm(
            "MalignantShareLow",
            metric=m.malignant_share(min_count=s.min_hourly_answers, when_too_few=100),
            threshold=low,
            operator=LT,
            periods=hours,
            what=f"Malignant answers below {low:g}% of predictions {common}The model may have stopped "
            "flagging lesions it should (inputs changed, or a new model is miscalibrated).",
            first="the model's validation share (GET /model) and which model version is serving "
            "(Predictions by model_version).",
        )
        self._alarm(
            "RefusalShareHigh",
            metric=m.refusal_share(min_count=s.min_hourly_answers),
            threshold=s.refusal_share_high_pct,
            operator=GT,
            periods=hours,
            what=f"More than {s.refusal_share_high_pct:g}% of uploads were refused as not a skin lesion "
            f"{common}Inputs are changing.",
            first="the image-size buckets and ImageBytes for a new kind of client or camera, then ask "
            "users what they photograph.",
        )

    def _training_rules(self, job_prefix: str) -> list[events.Rule]:
        """Training jobs of this stack that end: one rule per outcome, each notifying the topic."""
        rules = []
        for id_, statuses in (
            ("TrainingSucceeded", ["Completed"]),
            ("TrainingFailed", ["Failed", "Stopped"]),
        ):
            detail = events.EventField.from_path
            message = events.RuleTargetInput.from_text(
                f"SageMaker training job {detail('$.detail.TrainingJobName')} ended "
                f"{detail('$.detail.TrainingJobStatus')}: {detail('$.detail.FailureReason')}"
            )
            rules.append(
                events.Rule(
                    self,
                    id_,
                    description=f"A training job of this stack ended {' or '.join(statuses)}: tell the owner",
                    event_pattern=events.EventPattern(
                        source=["aws.sagemaker"],
                        detail_type=["SageMaker Training Job State Change"],
                        detail={
                            "TrainingJobName": [{"prefix": f"{job_prefix}-"}],
                            "TrainingJobStatus": statuses,
                        },
                    ),
                    targets=[targets.SnsTopic(self.topic, message=message)],
                )
            )
        return rules
