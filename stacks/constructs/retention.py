"""One retention period for every log group in the stack, the stack's own and CDK's.

An aspect rather than a parameter on each construct: it also reaches the log groups
aws-cdk-lib creates for its own handlers, and a log group added later cannot be
forgotten. `service_log_group` declares, as a stack resource, a group an AWS service
would otherwise create on first use with no expiry (the endpoint's, API Gateway's
execution log), so the aspect covers it and `cdk destroy` removes it.
"""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct


@jsii.implements(IAspect)
class LogRetention:
    """Sets `RetentionInDays` on every AWS::Logs::LogGroup below the scope it is added to."""

    def __init__(self, days: int) -> None:
        self.days = days

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup):
            node.retention_in_days = self.days


def service_log_group(
    scope: Construct, id_: str, *, name: str, key_arn: str | None = None
) -> logs.CfnLogGroup:
    """A log group a service writes to by name; the retention aspect sets its expiry."""
    group = logs.CfnLogGroup(scope, id_, log_group_name=name, kms_key_id=key_arn)
    group.apply_removal_policy(RemovalPolicy.DESTROY)
    return group


def give_cdk_providers_log_groups(stack: Stack, *, key_arn: str | None = None) -> list[logs.CfnLogGroup]:
    """A log group of the stack's for each handler CDK's custom-resource providers add (auto-delete).

    Without one, Lambda creates `/aws/lambda/<name>` on first use (here: at `cdk destroy`),
    with no expiry and after the stack is gone. The handler logs to the group through its
    LoggingConfig, so CloudFormation deletes the group only after the handler has run.
    """
    groups = []
    for child in stack.node.children:
        handler = (
            child.node.try_find_child("Handler") if child.node.id.endswith("CustomResourceProvider") else None
        )
        if isinstance(handler, CfnResource) and handler.cfn_resource_type == "AWS::Lambda::Function":
            group = logs.CfnLogGroup(stack, f"{child.node.id.replace(':', '')}Logs", kms_key_id=key_arn)
            group.apply_removal_policy(RemovalPolicy.DESTROY)
            handler.add_property_override("LoggingConfig.LogGroup", group.ref)
            groups.append(group)
    return groups
