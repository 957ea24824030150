"""The metrics the dashboard and the alarms read: API Gateway, the Lambda, the endpoint, and the
Lambda's own EMF metrics (names and dimensions from `lesion_contract.metrics`)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_

import lesion_contract as contract
from lesion_contract import metrics as names

# What the Lambda can answer besides a label: the contract's codes the handler returns
# (401/403 and the gateway's own 404 never reach it) and the guard's refusal.
_GATEWAY_ONLY = {401, 403}
ERROR_OUTCOMES = tuple(
    code for status, code in sorted(contract.ERROR_CODES.items()) if status not in _GATEWAY_ONLY
) + (names.REFUSAL,)
OUTCOMES = (*names.LABELS, names.OUTCOME_OK, *ERROR_OUTCOMES)

SAGEMAKER = "AWS/SageMaker"
SAGEMAKER_INSTANCE = "/aws/sagemaker/Endpoints"  # CPU, memory, disk of real-time instances
HOUR = Duration.hours(1)


@dataclass(frozen=True)
class ServiceMetrics:
    """One place that knows each metric's namespace, dimensions and statistic."""

    api: apigw.RestApi
    function: lambda_.IFunction
    endpoint_name: str  # the configured literal: alarms must not depend on the endpoint resource
    variant_name: str
    namespace: str
    service: str

    # --- API Gateway (ApiName-level metrics)
    def api_requests(self) -> cw.Metric:
        return self.api.metric_count(statistic="Sum", period=Duration.minutes(5))

    def api_4xx(self) -> cw.Metric:
        return self.api.metric_client_error(statistic="Sum", period=Duration.minutes(5))

    def api_5xx(self) -> cw.Metric:
        return self.api.metric_server_error(statistic="Sum", period=Duration.minutes(5))

    def api_5xx_rate(self) -> cw.Metric:
        """5XXError is 0 or 1 per request, so its average is the share of requests that failed."""
        return self.api.metric_server_error(statistic="Average", period=Duration.minutes(5))

    def api_latency(self, statistic: str) -> cw.Metric:
        return self.api.metric_latency(statistic=statistic, period=Duration.minutes(5))

    # --- the predict Lambda
    def lambda_errors(self) -> cw.Metric:
        return self.function.metric_errors(statistic="Sum", period=Duration.minutes(5))

    def lambda_throttles(self) -> cw.Metric:
        return self.function.metric_throttles(statistic="Sum", period=Duration.minutes(5))

    def lambda_duration(self, statistic: str) -> cw.Metric:
        return self.function.metric_duration(statistic=statistic, period=Duration.minutes(5))

    def lambda_concurrency(self) -> cw.Metric:
        return self.function.metric("ConcurrentExecutions", statistic="Maximum", period=Duration.minutes(5))

    # --- the SageMaker endpoint (its one variant)
    def endpoint(self, metric_name: str, statistic: str, period: Duration | None = None) -> cw.Metric:
        return cw.Metric(
            namespace=SAGEMAKER,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic=statistic,
            period=period or Duration.minutes(1),
        )

    def endpoint_instance(self, metric_name: str) -> cw.Metric:
        """CPUUtilization / MemoryUtilization of the real-time instances (percent, summed over cores)."""
        return cw.Metric(
            namespace=SAGEMAKER_INSTANCE,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic="Average",
            period=Duration.minutes(5),
        )

    # --- the Lambda's EMF metrics
    def emf(self, name: str, statistic: str, period: Duration, **dimensions: str) -> cw.Metric:
        assert tuple(dimensions) == names.DIMENSIONS[name], f"{name} has dimensions {names.DIMENSIONS[name]}"
        return cw.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={names.DIM_SERVICE: self.service, **dimensions},
            statistic=statistic,
            period=period,
        )

    def outcome(self, outcome: str, period: Duration = HOUR) -> cw.Metric:
        return self.emf(names.REQUESTS, "Sum", period, outcome=outcome)

    def _answers(self, *, refused: bool = False) -> dict[str, cw.IMetric]:
        answers: dict[str, cw.IMetric] = {
            "benign": self.outcome("benign"),
            "malignant": self.outcome("malignant"),
        }
        if refused:
            answers["refused"] = self.outcome(names.REFUSAL)
        return answers

    def malignant_share(self, *, min_count: int | None = None, when_too_few: float = 0) -> cw.MathExpression:
        """Malignant answers as a percentage of answered predictions, per hour.

        With `min_count`, an hour with fewer answers reads `when_too_few`, so a quiet
        hour neither breaches nor clears a band alarm by chance.
        """
        share = "100 * FILL(malignant, 0) / (FILL(benign, 0) + FILL(malignant, 0))"
        total = "FILL(benign, 0) + FILL(malignant, 0)"
        expression = share if min_count is None else f"IF({total} >= {min_count}, {share}, {when_too_few})"
        return cw.MathExpression(
            expression=expression, using_metrics=self._answers(), label="Malignant share (%)", period=HOUR
        )

    def refusal_share(self, *, min_count: int | None = None) -> cw.MathExpression:
        """Guard refusals (not_a_skin_lesion) as a percentage of classified-or-refused uploads, per hour."""
        total = "FILL(benign, 0) + FILL(malignant, 0) + FILL(refused, 0)"
        share = f"100 * FILL(refused, 0) / ({total})"
        expression = share if min_count is None else f"IF({total} >= {min_count}, {share}, 0)"
        return cw.MathExpression(
            expression=expression,
            using_metrics=self._answers(refused=True),
            label="Refusal share (%)",
            period=HOUR,
        )
