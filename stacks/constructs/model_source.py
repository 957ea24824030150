"""The model seam: where the served `model.tar.gz` comes from, as one small value object.

The endpoint and the API take a `ModelArtifact` and never ask how it was made:
an existing S3 object (`-c modelDataUrl=s3://…`), the repository's bundled
artifact uploaded as an asset (`-c model=bundled`), or the training pipeline's
output (`stacks/constructs/training.py`, which builds one from its job's result).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Aws, Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct


@dataclass(frozen=True)
class ModelArtifact:
    """An S3 `model.tar.gz`; `bucket_name` and `key` may be CloudFormation tokens."""

    bucket_name: str
    key: str

    @property
    def url(self) -> str:
        """`s3://bucket/key`, what SageMaker's ModelDataUrl takes."""
        return Fn.join("", ["s3://", self.bucket_name, "/", self.key])

    @property
    def metadata_uri(self) -> str:
        """What the Lambda's MODEL_METADATA_URI gets: the artifact itself (it reads metadata.json inside)."""
        return self.url

    @property
    def object_arn(self) -> str:
        return Fn.join("", ["arn:", Aws.PARTITION, ":s3:::", self.bucket_name, "/", self.key])

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """s3:GetObject on exactly this object, nothing else in the bucket."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:GetObject"], resource_arns=[self.object_arn]
        )

    @classmethod
    def from_s3_url(cls, url: str) -> ModelArtifact:
        """From a validated literal `s3://bucket/key.tar.gz` (see `stacks.config.check_s3_model_uri`)."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return cls(bucket_name=bucket, key=key)


def bundled_model(scope: Construct, id_: str, *, path: Path) -> ModelArtifact:
    """Upload the repository's shipped artifact as an S3 asset (context `model=bundled`)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"-c model=bundled needs the shipped model artifact at {path}, which is missing. "
            "Build it with `make train-default`, or pass `-c modelDataUrl=s3://<bucket>/<key>/model.tar.gz`."
        )
    asset = s3_assets.Asset(scope, id_, path=str(path))
    return ModelArtifact(bucket_name=asset.s3_bucket_name, key=asset.s3_object_key)
