"""The training data: the `model_src/` code bundle and the ISIC Archive import step.

The import runs in the user's account as a SageMaker Processing job (no laptop
bandwidth, no local credentials): `Custom::DatasetImport` starts it, a WaitCondition
holds the deploy until the job-state event handler signals, and the dataset lands
under `datasets/isic/<dataset id>/` in the artifacts bucket. The dataset id is a hash
of what was asked for (queries, limit, image size, import format), so the same
request reuses a dataset already there and a new one gets its own folder.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnWaitCondition, CfnWaitConditionHandle, CustomResource, Stage
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.config import REPO_ROOT
from stacks.constructs.sagemaker_image import training_image_uri

MODEL_SRC = REPO_ROOT / "model_src"
IMPORT_INSTANCE_TYPE = "ml.m5.xlarge"  # 4 vCPU: downloads and JPEG resizing, no GPU needed
IMPORT_MAX_RUNTIME_S = 5 * 3600
IMPORT_WAIT_S = IMPORT_MAX_RUNTIME_S + 1800  # + instance start and the output upload
IMPORT_FORMAT = "skinlesion-folders/1"  # bump when the import's output changes
ISIC_QUERIES = {
    "benign": 'diagnosis_1:"Benign" AND image_type:dermoscopic',
    "malignant": 'diagnosis_1:"Malignant" AND image_type:dermoscopic',
}
_SKIPPED = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def deterministic_targz(src: Path) -> bytes:
    """`src` as a tar.gz whose bytes depend on file names and contents only (no mtimes, owners).

    The asset hash, and with it the training fingerprint, then changes exactly when
    the code changes, not on every synth.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
            for name in sorted(f for f in files if not f.endswith(".pyc")):
                path = Path(root, name)
                info = tarfile.TarInfo(path.relative_to(src).as_posix())
                data = path.read_bytes()
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@dataclass(frozen=True)
class SourceBundle:
    """`model_src/` uploaded once; the training job and the import job both run from it."""

    asset: s3_assets.Asset
    sha256: str

    @property
    def uri(self) -> str:
        return self.asset.s3_object_url

    @property
    def object_arn(self) -> str:
        return f"{self.asset.bucket.bucket_arn}/{self.asset.s3_object_key}"


def source_bundle(scope: Construct, id_: str, src: Path = MODEL_SRC) -> SourceBundle:
    data = deterministic_targz(src)
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(Stage.of(scope).outdir if Stage.of(scope) else ".", ".training-src")  # type: ignore[union-attr]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model_src-{sha[:16]}.tar.gz"
    if not path.exists():
        path.write_bytes(data)
    return SourceBundle(asset=s3_assets.Asset(scope, id_, path=str(path)), sha256=sha)


def dataset_id(*, limit: int | None, image_size: int) -> str:
    """A short hash of the import request: the folder name and the training data version."""
    request = {
        "format": IMPORT_FORMAT,
        "queries": ISIC_QUERIES,
        "limit": limit or 0,
        "image_size": image_size,
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]


class IsicImport(Construct):
    """Import ISIC Archive images into `datasets/isic/<id>/` with a Processing job, waited on up to 5.5 h.

    `dataset_uri` is the training channel; `completion` is the WaitCondition to depend on.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket_name: str,
        service_token: str,
        job_name_prefix: str,
        role_arn: str,
        source: SourceBundle,
        region: str,
        limit: int | None,
        image_size: int,
        quota_checks: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.dataset_id = dataset_id(limit=limit, image_size=image_size)
        self.prefix = f"datasets/isic/{self.dataset_id}/"
        self.dataset_uri = f"s3://{bucket_name}/{self.prefix}"
        # A new dataset id needs a fresh handle and wait: CloudFormation cannot update either.
        handle = CfnWaitConditionHandle(self, f"WaitHandle{self.dataset_id[:12]}")
        arguments = ["--image-size", str(image_size), "--dataset-id", self.dataset_id, "--workers", "32"]
        arguments += ["--limit", str(limit)] if limit else []
        arguments += [
            "--benign-query",
            ISIC_QUERIES["benign"],
            "--malignant-query",
            ISIC_QUERIES["malignant"],
        ]
        self.job = CustomResource(
            self,
            "Job",
            service_token=service_token,
            resource_type="Custom::DatasetImport",
            properties={
                "JobNamePrefix": job_name_prefix,
                "DatasetId": self.dataset_id,
                "DatasetPrefix": self.prefix,
                "Bucket": bucket_name,
                "RoleArn": role_arn,
                "Image": training_image_uri(region, IMPORT_INSTANCE_TYPE),
                "SourceUri": source.uri,
                "InstanceType": IMPORT_INSTANCE_TYPE,
                "VolumeSizeGb": "50",
                "MaxRuntimeSeconds": str(IMPORT_MAX_RUNTIME_S),
                "Arguments": arguments,
                "WaitHandleUrl": handle.ref,
                # The import is the first costly step: it checks every quota the deploy needs.
                "QuotaChecks": quota_checks or [],
            },
        )
        self.completion = CfnWaitCondition(
            self, f"Wait{self.dataset_id[:12]}", handle=handle.ref, timeout=str(IMPORT_WAIT_S), count=1
        )
        self.completion.node.add_dependency(self.job)
        self.job_name = self.job.get_att_string("JobName")
