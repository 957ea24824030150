"""SageMaker deployment guardrails for a model update: blue/green, a canary, automatic rollback.

CloudFormation updates the endpoint to the new EndpointConfig with this
`DeploymentConfig`: SageMaker starts the new (green) fleet beside the serving
(blue) one, shifts traffic to it in steps, and bakes each step while it watches
the named alarms; one going to ALARM sends all traffic back to blue and fails the
update, and CloudFormation rolls the stack back. docs/operations.md tells the flow.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_sagemaker as sagemaker

from stacks.config import EndpointSettings

Cfn = sagemaker.CfnEndpoint
MAX_EXECUTION_S = 28_800  # SageMaker's cap on MaximumExecutionTimeoutInSeconds (600..28800)
FLEET_START_MARGIN_S = 3_600  # starting the green fleet and loading the model, before any baking


def canary_instances(settings: EndpointSettings) -> int:
    """canaryPercent of minInstances, rounded down, at least one instance.

    SageMaker wants the canary at most half the fleet. The fleet never has fewer than
    minInstances (autoscaling's floor) and canaryPercent is at most 50, so this count is
    valid at any fleet size; a percentage of a small fleet would need rounding.
    """
    return max(1, settings.min_instances * settings.canary_percent // 100)


def deployment_config(settings: EndpointSettings, alarm_names: Sequence[str]) -> Cfn.DeploymentConfigProperty:
    """Canary when the endpoint has two instances or more, else all at once; both bake and roll back."""
    if not 1 <= len(alarm_names) <= 10:
        raise ValueError(f"SageMaker takes 1 to 10 rollback alarms, got {len(alarm_names)}")
    bake_s = settings.baking_minutes * 60
    if settings.canary:
        routing = Cfn.TrafficRoutingConfigProperty(
            type="CANARY",
            canary_size=Cfn.CapacitySizeProperty(type="INSTANCE_COUNT", value=canary_instances(settings)),
            wait_interval_in_seconds=bake_s,
        )
        steps = 2  # the canary, then the rest
    else:
        routing = Cfn.TrafficRoutingConfigProperty(type="ALL_AT_ONCE", wait_interval_in_seconds=bake_s)
        steps = 1
    termination_s = settings.termination_wait_minutes * 60
    # Must exceed every wait of the deployment; SageMaker gives up (and rolls back) after it.
    timeout_s = min(MAX_EXECUTION_S, steps * bake_s + termination_s + FLEET_START_MARGIN_S)
    return Cfn.DeploymentConfigProperty(
        blue_green_update_policy=Cfn.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=termination_s,
            maximum_execution_timeout_in_seconds=timeout_s,
        ),
        auto_rollback_configuration=Cfn.AutoRollbackConfigProperty(
            alarms=[Cfn.AlarmProperty(alarm_name=name) for name in alarm_names]
        ),
    )
