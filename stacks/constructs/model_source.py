"""The model seam: where the served `model.tar.gz` comes from, as one small value object.

The endpoint and the API take a `ModelArtifact` and never ask how it was made:
an existing S3 object (`-c modelDataUrl=s3://…`), the repository's bundled
artifact uploaded as an asset (`-c model=bundled`), or the training pipeline's
output (`stacks/constructs/training.py`, which builds one from its job's result).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Aws, Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, IDependable

from stacks.nag import acknowledge_bucket_deployment


@dataclass(frozen=True)
class ModelArtifact:
    """An S3 `model.tar.gz`; `bucket_name` and `key` may be CloudFormation tokens."""

    bucket_name: str
    key: str
    # What must exist before SageMaker reads the object (the upload, or the training job).
    depends_on: tuple[IDependable, ...] = field(default=())

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


def bundled_model(scope: Construct, id_: str, *, path: Path, bucket: s3.IBucket) -> ModelArtifact:
    """Copy the repository's shipped artifact into the artifacts bucket (context `model=bundled`).

    Through a BucketDeployment rather than a plain file asset: an asset's key ends in
    `<hash>.gz`, while the artifact keeps its `model.tar.gz` name here (the Lambda and
    people reading the bucket recognise it by it), under a content-hash prefix so a new
    artifact gets a new URL and the endpoint rolls to it.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"-c model=bundled needs the shipped model artifact at {path}, which is missing. "
            "Build it with `make train-default`, or pass `-c modelDataUrl=s3://<bucket>/<key>/model.tar.gz`."
        )
    digest = _sha256(path)[:16]
    prefix = f"models/bundled/{digest}/"
    deployment = s3deploy.BucketDeployment(
        scope,
        id_,
        sources=[s3deploy.Source.asset(str(path.parent), exclude=["*", f"!{path.name}"])],
        destination_bucket=bucket,
        destination_key_prefix=prefix,
        prune=False,  # earlier artifacts stay for rollback; they go with the bucket on destroy
        memory_limit=512,  # a 20+ MB copy in 128 MB has been killed
    )
    acknowledge_bucket_deployment(deployment.handler_role, destination=bucket)
    return ModelArtifact(bucket_name=bucket.bucket_name, key=prefix + path.name, depends_on=(deployment,))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
