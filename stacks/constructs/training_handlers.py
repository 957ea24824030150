"""The training pipeline's Lambdas: the custom-resource provider and the job-state event handler.

Both run `lambda_src/training_cr/` (boto3 and the standard library only) with the
`lesion_contract` package beside it. The
provider has only an onEvent handler, so no polling state machine exists: the
deploy waits on WaitConditions instead, which the event handler signals.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.bundling import CONTRACT_DIR, LAMBDA_RUNTIME, python_lambda_code
from stacks.config import REPO_ROOT
from stacks.constructs.storage import log_group
from stacks.constructs.training_access import (
    JOB_LOG_STREAM_REASON,
    NAG_JOB_LOG_GROUPS,
    job_log_group_arns,
    list_prefixes,
)
from stacks.nag import LAMBDA_BASIC_EXECUTION, acknowledge, acknowledge_findings, arn_finding

HANDLER_PACKAGE = REPO_ROOT / "lambda_src" / "training_cr"
# HIPAA Security findings on the pipeline's handlers, with why each does not apply here.
_HIPAA_REASONS = {
    "HIPAA.Security-LambdaConcurrency": "Runs a few times per deploy (CloudFormation, job-end events); "
    "nothing to protect with reserved concurrency.",
    "HIPAA.Security-LambdaDLQ": "Failures are not dropped: the provider reports them to CloudFormation, "
    "EventBridge retries job events 8 times over 6 h, and an unsignalled wait fails the deploy.",
    "HIPAA.Security-LambdaInsideVPC": "Calls only AWS APIs (SageMaker, S3, Logs) and the CloudFormation "
    "handle URL; it handles job metadata, never images, so a VPC adds NAT cost and no isolation.",
    "HIPAA.Security-IAMNoInlinePolicy": "CDK writes the role's scoped statements as its own default "
    "policy; a managed policy would hold the same statements.",
}
_LOG_GROUP_REASON = (
    "Handler logs hold job names, states and metrics, no images or personal data; CloudWatch Logs "
    "encrypts them at rest with AWS-owned keys."
)
_S3_REASON = (
    "Per-job objects named at run time (job records, job logs, the artifact's metadata, the dataset "
    "manifest), only under the pipeline's prefixes of the artifacts bucket."
)


class PipelineFunctions(Construct):
    """The provider (onEvent only) and the event handler with the rules that feed it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        job_name_prefix: str,
        dataset_prefix: str,
        execution_role: iam.IRole,
        region: str,
    ) -> None:
        super().__init__(scope, id_)
        self._bucket, self._prefix, self._dataset_prefix = bucket, job_name_prefix, dataset_prefix
        # 14 min: Delete waits for a stopping job to finish writing before it answers.
        self.on_event = self._function(
            "OnEvent", "training_cr.custom_resource.on_event", Duration.minutes(14)
        )
        self.job_events = self._function("JobEvents", "training_cr.job_events.handler", Duration.minutes(5))
        self._grant_start(execution_role, region)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event,
            log_group=log_group(
                self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH, encrypted=False
            ),
        )
        framework = self.provider.node.find_child("framework-onEvent")
        for rule_id, reason in _HIPAA_REASONS.items():
            acknowledge(framework, rule_id, f"CDK Provider framework: {reason}")
        acknowledge(
            self.node.find_child("ProviderLogs"),
            "HIPAA.Security-CloudWatchLogGroupEncrypted",
            _LOG_GROUP_REASON,
        )
        acknowledge(
            framework,
            f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
            "CDK Provider framework: own logs only.",
        )
        acknowledge(
            framework,
            f"AwsSolutions-IAM5[{arn_finding(self.on_event, ':*')}]",
            "CDK's Provider framework may invoke any version of this one onEvent function.",
        )
        self.service_token = self.provider.service_token
        self.rules = [
            self._rule("Training", "TrainingJob", f"{job_name_prefix}-"),
            self._rule("Processing", "ProcessingJob", f"{job_name_prefix}-import-"),
        ]

    def _function(self, id_: str, handler: str, timeout: Duration) -> lambda_.Function:
        logs_ = log_group(self, f"{id_}Logs", retention=logs.RetentionDays.ONE_MONTH, encrypted=False)
        function = lambda_.Function(
            self,
            id_,
            runtime=LAMBDA_RUNTIME,
            code=python_lambda_code(HANDLER_PACKAGE, shared=[CONTRACT_DIR]),
            handler=handler,
            timeout=timeout,
            memory_size=512,  # streams model.tar.gz through gzip to find metadata.json
            log_group=logs_,
            environment={"ARTIFACTS_BUCKET": self._bucket.bucket_name},
        )
        acknowledge(
            function, "AwsSolutions-L1", "Python 3.12 is the runtime the project's Lambdas are built for."
        )
        acknowledge(logs_, "HIPAA.Security-CloudWatchLogGroupEncrypted", _LOG_GROUP_REASON)
        for rule_id, reason in _HIPAA_REASONS.items():
            acknowledge(function, rule_id, reason)
        acknowledge(
            function,
            f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
            f"Training pipeline {id_} handler: the basic execution policy only writes its own logs.",
        )
        self._grant_finish(function)
        return function

    def _rule(self, id_: str, kind: str, name_prefix: str) -> events.Rule:
        return events.Rule(
            self,
            f"{id_}JobEnded",
            description=f"A SageMaker {kind} of this stack ended: judge it and signal the deploy",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[f"SageMaker {id_} Job State Change"],
                detail={
                    f"{kind}Name": [{"prefix": name_prefix}],
                    f"{kind}Status": ["Completed", "Failed", "Stopped"],
                },
            ),
            targets=[
                targets.LambdaFunction(self.job_events, retry_attempts=8, max_event_age=Duration.hours(6))
            ],
        )

    def _grant_finish(self, function: lambda_.Function) -> None:
        """Read job records, the artifact's metadata and the manifest; copy job logs into the bucket."""
        bucket, prefix = self._bucket, self._prefix
        reads = ["pipeline/jobs/*", "training/*/output/model.tar.gz", f"{self._dataset_prefix}manifest.json"]
        writes = ["training/*/logs/*", "pipeline/*"]
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(k) for k in reads]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(k) for k in writes]
            )
        )
        function.add_to_role_policy(
            list_prefixes(bucket.bucket_arn, ["pipeline/", self._dataset_prefix, "training/"])
        )
        groups = job_log_group_arns()
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogStreams"], resources=groups + [f"{g}:*" for g in groups]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["logs:GetLogEvents"], resources=[f"{g}:log-stream:{prefix}-*" for g in groups]
            )
        )
        objects = [k for k in reads + writes if "*" in k]
        acknowledge_findings(
            function, "AwsSolutions-IAM5", [arn_finding(bucket, f"/{k}") for k in objects], _S3_REASON
        )
        acknowledge_findings(
            function,
            "AwsSolutions-IAM5",
            [f"Resource::{group}:log-stream:{prefix}-*" for group in NAG_JOB_LOG_GROUPS],
            JOB_LOG_STREAM_REASON,
        )
        acknowledge_findings(
            function,
            "AwsSolutions-IAM5",
            [f"Resource::{group}:*" for group in NAG_JOB_LOG_GROUPS],
            "DescribeLogStreams is authorised on the log group's `:*` ARN; only SageMaker's job log groups.",
        )

    def _grant_start(self, execution_role: iam.IRole, region: str) -> None:
        """Start, describe and stop this stack's jobs only; pass only the pipeline's execution role."""
        arn = f"arn:{Aws.PARTITION}:sagemaker:{region}:{Aws.ACCOUNT_ID}"
        jobs = [f"training-job/{self._prefix}-*", f"processing-job/{self._prefix}-import-*"]
        self.on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                resources=[f"{arn}:{job}" for job in jobs],
            )
        )
        self.on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # The quota check before a job starts (lesion_contract/quotas.py): list actions take no ARN.
        self.on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=["servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"],
                resources=["*"],
            )
        )
        acknowledge(
            self.on_event,
            "AwsSolutions-IAM5[Resource::*]",
            "Service Quotas' List actions have no resource-level permissions; they only read quota values.",
        )
        groups = job_log_group_arns()
        self.on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=["logs:DeleteLogStream"],
                resources=[f"{g}:log-stream:{self._prefix}-*" for g in groups],
            )
        )
        acknowledge_findings(
            self.on_event,
            "AwsSolutions-IAM5",
            [f"Resource::arn:<AWS::Partition>:sagemaker:{region}:<AWS::AccountId>:{job}" for job in jobs],
            "Job names are derived at deploy time from the fingerprint; scoped to this stack's name prefix.",
        )
