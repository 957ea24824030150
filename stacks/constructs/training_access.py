"""The training pipeline's roles and handler Lambdas, every permission scoped to what it touches.

S3 access names the prefixes in use (`training/`, `datasets/isic/`, `pipeline/`) or
the one code object; SageMaker permissions name this stack's job-name prefix; the
log permissions name SageMaker's two job log groups. No `*` actions, no bucket-wide
or account-wide S3 resources.

The job role holds what AWS documents as the minimum for CreateTrainingJob and
CreateProcessingJob (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html):
CloudWatch metrics, the job log actions, the image pull, and for every S3 input both
the objects and `s3:ListBucket` on its bucket (SageMaker lists an `S3Prefix` input,
even one that names a single object, before it downloads it).
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.dataset import IMPORT_INSTANCE_TYPE, SourceBundle
from stacks.constructs.sagemaker_image import training_image_uri
from stacks.constructs.sagemaker_roles import put_metric_data
from stacks.constructs.storage import log_writes
from stacks.nag import acknowledge, acknowledge_findings, arn_finding

LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/ProcessingJobs")
DLC_REPOSITORY = "tensorflow-training"
S3_OBJECT_RW = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]


def job_log_group_arns() -> list[str]:
    """The ARNs of SageMaker's job log groups (LOG_GROUPS) in this account and region."""
    return [f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{name}" for name in LOG_GROUPS]


# How cdk-nag spells the same ARNs in its finding ids.
NAG_JOB_LOG_GROUPS = [
    f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{name}" for name in LOG_GROUPS
]
JOB_LOG_STREAM_REASON = (
    "SageMaker writes each job's logs to streams named <job>/algo-N-<time> in its fixed log groups; "
    "the stream part is scoped to this stack's job-name prefix."
)


def list_prefixes(bucket_arn: str, prefixes: list[str]) -> iam.PolicyStatement:
    """s3:ListBucket limited by the s3:prefix condition (also turns a missing key's 403 into 404)."""
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
    )


def sagemaker_execution_role(
    scope: Construct,
    id_: str,
    *,
    bucket: s3.IBucket,
    source: SourceBundle,
    region: str,
    dataset_uri: str | None,
    dataset_prefix: str | None,
) -> iam.Role:
    """The role the import and training jobs run as."""
    role = iam.Role(scope, id_, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    # The AWS Deep Learning Containers registry account differs by region; the image URI names it.
    image_account = training_image_uri(region, IMPORT_INSTANCE_TYPE).split(".", 1)[0]
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            resources=[f"arn:{Aws.PARTITION}:ecr:{region}:{image_account}:repository/{DLC_REPOSITORY}"],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[source.object_arn]))
    # The import's `code` input is an S3Prefix naming the bundle: SageMaker lists it first.
    role.add_to_policy(list_prefixes(source.asset.bucket.bucket_arn, [source.asset.s3_object_key]))
    role.add_to_policy(put_metric_data())
    role.add_to_policy(
        iam.PolicyStatement(actions=S3_OBJECT_RW, resources=[bucket.arn_for_objects("training/*")])
    )
    prefixes = ["training/"]
    if dataset_prefix:  # the import writes it, training reads it
        role.add_to_policy(
            iam.PolicyStatement(
                actions=S3_OBJECT_RW, resources=[bucket.arn_for_objects(f"{dataset_prefix}*")]
            )
        )
        prefixes.append(dataset_prefix)
    role.add_to_policy(list_prefixes(bucket.bucket_arn, prefixes))
    if dataset_uri:  # the user's own folder: read only
        name, _, prefix = dataset_uri.removeprefix("s3://").partition("/")
        arn = f"arn:{Aws.PARTITION}:s3:::{name}"
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{arn}/{prefix}*"]))
        role.add_to_policy(list_prefixes(arn, [prefix]))
    role.add_to_policy(log_writes(job_log_group_arns()))
    _acknowledge_execution_role(role, bucket, dataset_uri, dataset_prefix)
    return role


def _acknowledge_execution_role(
    role: iam.Role, bucket: s3.IBucket, dataset_uri: str | None, dataset_prefix: str | None
) -> None:
    acknowledge(
        role,
        "HIPAA.Security-IAMNoInlinePolicy",
        "CDK writes the job role's scoped statements as its default policy; a managed one holds the same.",
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; the "
        "image pull is scoped to the TensorFlow training repository of the AWS Deep Learning Containers, "
        "the metrics to SageMaker's /aws/sagemaker/* namespaces.",
    )
    objects = [arn_finding(bucket, "/training/*")]
    if dataset_prefix:
        objects.append(arn_finding(bucket, f"/{dataset_prefix}*"))
    if dataset_uri:
        name, _, prefix = dataset_uri.removeprefix("s3://").partition("/")
        objects.append(f"Resource::arn:<AWS::Partition>:s3:::{name}/{prefix}*")
    acknowledge_findings(
        role,
        "AwsSolutions-IAM5",
        objects,
        "The jobs read and write files they name at run time (images, checkpoints, TensorBoard events, "
        "model.tar.gz), only under the pipeline's own prefixes of the bucket.",
    )
    acknowledge_findings(
        role,
        "AwsSolutions-IAM5",
        [f"Resource::{group}:log-stream:*" for group in NAG_JOB_LOG_GROUPS],
        "SageMaker names the job's log streams per instance at run time; scoped to its two job log groups.",
    )
