"""What SageMaker Batch Transform needs, so `skinlesion batch s3://...` works right after `cdk deploy`.

A transform job runs a SageMaker *model* and acts with that model's execution role.
The job here runs the endpoint's own model (the same container, artifact and
code/inference.py), so its role gets exactly what a job over this stack's prefixes
needs: list and read `batch/input/`, write `batch/output/` of the artifacts bucket,
and write the `/aws/sagemaker/TransformJobs` logs. Nothing outside those prefixes.

A separate model with its own role would keep the endpoint's role narrower still, at
the cost of a second `AWS::SageMaker::Model` that must follow every artifact change;
the endpoint's model is the one that is certain to be what the API serves.

The stack outputs (exact keys, read by skinlesion/batch_cloud_plan.py):
`BatchModelName`, `BatchInputUri`, `BatchOutputUri`.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.inference_endpoint import InferenceEndpoint
from stacks.nag import acknowledge, arn_finding

INPUT_PREFIX = "batch/input/"
OUTPUT_PREFIX = "batch/output/"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
# Output keys; skinlesion/batch_cloud_plan.py reads the same names.
OUTPUT_MODEL = "BatchModelName"
OUTPUT_INPUT_URI = "BatchInputUri"
OUTPUT_OUTPUT_URI = "BatchOutputUri"


class BatchTransform(Construct):
    """Grants the endpoint model's role the batch prefixes; exposes the model name and the S3 URIs."""

    def __init__(
        self, scope: Construct, id_: str, *, endpoint: InferenceEndpoint, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, id_)
        self.role = endpoint.role
        self.model_name = endpoint.model.attr_model_name
        self.input_uri = f"s3://{bucket.bucket_name}/{INPUT_PREFIX}"
        self.output_uri = f"s3://{bucket.bucket_name}/{OUTPUT_PREFIX}"
        self.policy = iam.Policy(self, "Policy", roles=[self.role], statements=self._statements(bucket))
        self._acknowledge(bucket)
        stack = Stack.of(self)  # outputs at the stack's top level: their keys are exactly these
        CfnOutput(
            stack, OUTPUT_MODEL, value=self.model_name, description="SageMaker model for Batch Transform"
        )
        CfnOutput(stack, OUTPUT_INPUT_URI, value=self.input_uri, description="Batch Transform input prefix")
        CfnOutput(
            stack, OUTPUT_OUTPUT_URI, value=self.output_uri, description="Batch Transform output prefix"
        )

    def _statements(self, bucket: s3.IBucket) -> list[iam.PolicyStatement]:
        log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{TRANSFORM_LOG_GROUP}"
        return [
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{INPUT_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{INPUT_PREFIX}*")]
            ),
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
            ),
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group, f"{log_group}:log-stream:*"],
            ),
        ]

    def _acknowledge(self, bucket: s3.IBucket) -> None:
        acknowledge(
            self.policy,
            f"AwsSolutions-IAM5[{arn_finding(bucket, '/' + INPUT_PREFIX + '*')}]",
            "A transform job reads every image under the input prefix; the names are the user's.",
        )
        acknowledge(
            self.policy,
            f"AwsSolutions-IAM5[{arn_finding(bucket, '/' + OUTPUT_PREFIX + '*')}]",
            "A transform job writes one <input name>.out per image under the output prefix.",
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
            f"log-group:{TRANSFORM_LOG_GROUP}:log-stream:*]",
            "SageMaker names a transform job's log streams per job and instance; scoped to its log group.",
        )
        acknowledge(
            self.policy,
            "HIPAA.Security-IAMNoInlinePolicy",
            "The batch prefixes' grant is attached to the endpoint model's role as its own policy, "
            "so the endpoint's statements and these stay apart; a managed policy would hold the same.",
        )
