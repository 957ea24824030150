"""Buckets: the artifacts bucket (models, datasets, training outputs) and its access-log bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def secure_bucket_props(*, retain: bool) -> dict[str, object]:
    """Settings every bucket of the app shares: encrypted, TLS-only, private, owner-enforced."""
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "removal_policy": RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        # Objects go with the bucket on `cdk destroy` unless the user asked to keep data.
        "auto_delete_objects": not retain,
    }


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
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            **secure_bucket_props(retain=retain),  # type: ignore[arg-type]
        )
        self.artifacts_bucket = s3.Bucket(
            self,
            "Artifacts",
            versioned=True,  # models live here: a bad overwrite must be recoverable
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="s3/artifacts/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            **secure_bucket_props(retain=retain),  # type: ignore[arg-type]
        )
