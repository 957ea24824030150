"""Buckets (artifacts, access logs) and the stack's one KMS key for CloudWatch Logs."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

LOGS_KEY_ID = "LogsKey"
# Old versions of overwritten or expired objects are kept this long (a window to recover mistakes).
NONCURRENT_DAYS = 30
REPLICATION_REASON = "No cross-region replica: a second region's bucket doubles the storage cost, and {what}."


def secure_bucket_props(*, retain: bool) -> dict[str, object]:
    """Settings every bucket of the app shares: encrypted, versioned, TLS-only, private."""
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        # Recoverable overwrites and deletes; each bucket expires noncurrent versions.
        "versioned": True,
        "removal_policy": RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        # Objects (every version) go with the bucket on `cdk destroy` unless the user asked to keep data.
        "auto_delete_objects": not retain,
    }


def log_group(scope: Construct, id_: str, *, retention: logs.RetentionDays, encrypted: bool) -> logs.LogGroup:
    """A log group removed with the stack; `encrypted`: with the stack's logs key (`logs_key`)."""
    return logs.LogGroup(
        scope,
        id_,
        retention=retention,
        encryption_key=logs_key(scope) if encrypted else None,
        removal_policy=RemovalPolicy.DESTROY,
    )


def log_writes(group_arns: list[str]) -> iam.PolicyStatement:
    """What a SageMaker role needs to write its job or endpoint logs to these log groups."""
    return iam.PolicyStatement(
        actions=[
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:DescribeLogStreams",
        ],
        resources=group_arns + [f"{arn}:log-stream:*" for arn in group_arns],
    )


def logs_key(scope: Construct) -> kms.Key:
    """The stack's customer-managed key for its log groups (created on first use, then shared).

    The key policy lets CloudWatch Logs in this account and region use the key only for
    log groups (the encryption context names a log group ARN). Naming each group's ARN
    would be circular (a group needs the key first), so the condition names the account's
    groups; only this stack's groups are configured with the key. Removed with the stack,
    like the log groups it encrypts.
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(LOGS_KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        LOGS_KEY_ID,
        description="Encrypts the skin-lesion stack's CloudWatch log groups",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,
        pending_window=Duration.days(7),
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                    )
                }
            },
        )
    )
    return key


class Storage(Construct):
    """The artifacts bucket and the bucket that receives S3 and CloudFront access logs.

    `retain=True` (context `retainData=true`) keeps both on `cdk destroy`: the logs
    are part of the data a clinical-research team may need to keep.
    """

    def __init__(self, scope: Construct, id_: str, *, retain: bool) -> None:
        super().__init__(scope, id_)
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            # CloudFront standard logging writes with ACLs, which needs owner-preferred ownership.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(365),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                )
            ],
            **secure_bucket_props(retain=retain),  # type: ignore[arg-type]
        )
        acknowledge(
            self.access_log_bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 server access logging delivers only to a target bucket encrypted with SSE-S3 (SSE-KMS "
            "targets are not supported), so this bucket keeps AES-256.",
        )
        acknowledge(
            self.access_log_bucket,
            "HIPAA.Security-S3BucketReplicationEnabled",
            REPLICATION_REASON.format(what="the logs hold request metadata, never images"),
        )
        self.artifacts_bucket = s3.Bucket(
            self,
            "Artifacts",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="s3/artifacts/",
            # Models live here: a bad overwrite stays recoverable for 90 days.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            **secure_bucket_props(retain=retain),  # type: ignore[arg-type]
        )
        acknowledge(
            self.artifacts_bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "SSE-S3 (AES-256): the training jobs' roles are scoped S3 statements without KMS permissions, "
            "so an SSE-KMS default would make the import and training jobs fail to write their outputs.",
        )
        acknowledge(
            self.artifacts_bucket,
            "HIPAA.Security-S3BucketReplicationEnabled",
            REPLICATION_REASON.format(
                what="its contents are reproducible (the dataset from the ISIC archive, models by the "
                "training job or the bundled artifact); versioning guards against overwrites"
            ),
        )
