"""What every role SageMaker assumes needs beyond its own inputs, in one place.

AWS documents a minimum for the execution role of each API this stack uses
(CreateTrainingJob, CreateProcessingJob, CreateModel):
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html. Beside the image
pull, the log actions and the S3 inputs (which each role scopes to its own), each
includes `cloudwatch:PutMetricData`, which SageMaker uses for the instance and job
metrics it publishes under `/aws/sagemaker/…`.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

# PutMetricData has no resource ARN; the namespace condition scopes it.
SAGEMAKER_METRIC_NAMESPACES = "/aws/sagemaker/*"


def put_metric_data() -> iam.PolicyStatement:
    """cloudwatch:PutMetricData, only into SageMaker's own namespaces."""
    return iam.PolicyStatement(
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions={"StringLike": {"cloudwatch:namespace": SAGEMAKER_METRIC_NAMESPACES}},
    )
