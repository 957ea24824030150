"""What SageMaker Batch Transform needs, so `skinlesion batch s3://...` works right after `cdk deploy`.

A transform job runs a SageMaker *model* and acts with that model's execution role. So
this construct adds a second model with the endpoint's own container definition (the
same image, artifact, environment and code/inference.py; CloudFormation replaces both
together when the artifact changes) and a role of its own that may only: pull that
image, read the model artifact, list and read `batch/input/`, write `batch/output/` of
the artifacts bucket, and write the `/aws/sagemaker/TransformJobs` logs. The endpoint's
role keeps reading only its model object.

The stack outputs (exact keys, read by skinlesion/batch_cloud_plan.py):
`BatchModelName`, `BatchInputUri`, `BatchOutputUri`.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.constructs.inference_endpoint import InferenceEndpoint
from stacks.constructs.model_source import ModelArtifact
from stacks.constructs.sagemaker_image import inference_image_uri
from stacks.constructs.sagemaker_roles import put_metric_data
from stacks.constructs.storage import log_writes
from stacks.nag import acknowledge, arn_finding

INPUT_PREFIX = "batch/input/"
OUTPUT_PREFIX = "batch/output/"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
# Output keys; skinlesion/batch_cloud_plan.py reads the same names.
OUTPUT_MODEL = "BatchModelName"
OUTPUT_INPUT_URI = "BatchInputUri"
OUTPUT_OUTPUT_URI = "BatchOutputUri"


class BatchTransform(Construct):
    """A model for transform jobs (the endpoint's container) with a role scoped to the batch prefixes."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint: InferenceEndpoint,
        model: ModelArtifact,
        bucket: s3.IBucket,
        region: str,
    ) -> None:
        super().__init__(scope, id_)
        image = inference_image_uri(region=region, settings=endpoint.settings)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        for statement in _statements(bucket, image, region):
            self.role.add_to_policy(statement)
        model.grant_read(self.role)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=endpoint.model.primary_container,  # one container definition for both
            # SageMaker moves the S3 input and output itself: the container needs no network.
            enable_network_isolation=True,
        )
        self.model.node.add_dependency(self.role.node.find_child("DefaultPolicy"), *model.depends_on)
        self.model_name = self.model.attr_model_name
        self.input_uri = f"s3://{bucket.bucket_name}/{INPUT_PREFIX}"
        self.output_uri = f"s3://{bucket.bucket_name}/{OUTPUT_PREFIX}"
        self._acknowledge(bucket)
        stack = Stack.of(self)  # outputs at the stack's top level: their keys are exactly these
        CfnOutput(
            stack, OUTPUT_MODEL, value=self.model_name, description="SageMaker model for Batch Transform"
        )
        CfnOutput(stack, OUTPUT_INPUT_URI, value=self.input_uri, description="Batch Transform input prefix")
        CfnOutput(
            stack, OUTPUT_OUTPUT_URI, value=self.output_uri, description="Batch Transform output prefix"
        )

    def _acknowledge(self, bucket: s3.IBucket) -> None:
        log_streams = (
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
            f"log-group:{TRANSFORM_LOG_GROUP}:log-stream:*"
        )
        reasons = {
            f"AwsSolutions-IAM5[{arn_finding(bucket, '/' + INPUT_PREFIX + '*')}]": (
                "A transform job reads every image under the input prefix; the names are the user's."
            ),
            f"AwsSolutions-IAM5[{arn_finding(bucket, '/' + OUTPUT_PREFIX + '*')}]": (
                "A transform job writes one <input name>.out per image under the output prefix."
            ),
            f"AwsSolutions-IAM5[{log_streams}]": (
                "SageMaker names a transform job's log streams per job and instance; scoped to its log group."
            ),
            "AwsSolutions-IAM5[Resource::*]": (
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
                "the image pull is scoped to the one inference repository, the metrics to SageMaker's "
                "namespaces."
            ),
            "HIPAA.Security-IAMNoInlinePolicy": (
                "CDK writes the batch role's scoped statements (its image repository, the batch prefixes, "
                "its log group, the artifact's grant) as its default policy; a managed policy would hold "
                "the same."
            ),
        }
        for rule, reason in reasons.items():
            acknowledge(self.role, rule, reason)


def _statements(bucket: s3.IBucket, image: str, region: str) -> list[iam.PolicyStatement]:
    registry_account = image.split(".", 1)[0]
    repository = image.split("/", 1)[1].split(":", 1)[0]
    log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{TRANSFORM_LOG_GROUP}"
    return [
        iam.PolicyStatement(
            actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            resources=[f"arn:{Aws.PARTITION}:ecr:{region}:{registry_account}:repository/{repository}"],
        ),
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{INPUT_PREFIX}*"]}},
        ),
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{INPUT_PREFIX}*")]),
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
        ),
        log_writes([log_group]),
        put_metric_data(),
    ]
