"""Training during `cdk deploy`: data import, a SageMaker training job, a quality gate, then the Model.

    DatasetImport (custom resource) -> WaitCondition (import) -> TrainingJob (custom resource)
        -> WaitCondition (training, up to 12 h) -> the endpoint's Model

A custom resource can keep CloudFormation waiting one hour at most, so the
resources only *start* jobs. Each job's end reaches the stack through EventBridge
("SageMaker … Job State Change"), whose Lambda judges it (quality gate: validation
ROC AUC >= minAuc) and signals a CloudFormation WaitCondition, which waits up to
43,200 s. A failed, stopped or rejected job fails the deploy within a minute or two
with the reason; the Model, which depends on the WaitCondition, is never replaced,
so the endpoint keeps serving the previous model.

The job name comes from a fingerprint of what decides the model: the code, the data
version, the hyperparameters, the framework image and the instance count. An
unchanged fingerprint trains nothing, a changed one trains once and rolls the
endpoint to a new Model. What only decides how or whether it runs (spot, the
instance type within one image, the runtime cap, minAuc) is left out: changing it
retrains nothing, but a failed or stopped job is retried with it (custom_resource.py).

The WaitCondition and its handle cannot be updated, so their logical ids come from
every setting that ends up in their properties or in the verdict (fingerprint,
timeout, minAuc): a change replaces them, and the custom resource re-judges the
existing job for the new handle (`wait_key`).
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import CfnWaitCondition, CfnWaitConditionHandle, CustomResource, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lesion_contract import quotas
from stacks.config import EndpointSettings, TrainingSettings
from stacks.constructs.dataset import IMPORT_INSTANCE_TYPE, IsicImport, dataset_id, source_bundle
from stacks.constructs.model_source import ModelArtifact
from stacks.constructs.sagemaker_image import training_image_uri
from stacks.constructs.training_access import sagemaker_execution_role
from stacks.constructs.training_handlers import PipelineFunctions

WAIT_LIMIT_S = 43_200  # CloudFormation's maximum WaitCondition timeout (12 h)
WAIT_MARGIN_S = 3_600  # instance start, data download, model upload around the training time
VOLUME_GB = 50
# weights "imagenet": the sha256-checked file inside the model_src bundle (model_src/weights/,
# lesion_model/pretrained.py); the job downloads no weights.
DEFAULT_HYPERPARAMETERS = {"arch": "mobilenet_v2", "weights": "imagenet", "head-epochs": 3, "patience": 5}
EXPORT_MARGIN_MINUTES = 20  # train.py stops this long before MaxRuntime to export the model


def hyperparameters(settings: TrainingSettings) -> dict[str, str]:
    """What train.py receives as `--key value`: defaults, then the knobs, then -c hyperparameters."""
    hps: dict[str, object] = dict(DEFAULT_HYPERPARAMETERS) | {"epochs": settings.epochs}
    hps["max-minutes"] = max(1, int(settings.max_runtime_hours * 60) - EXPORT_MARGIN_MINUTES)
    hps |= dict(settings.hyperparameters)
    return {key: str(value) for key, value in sorted(hps.items())}


def fingerprint(*, code_sha256: str, data_version: str, hps: dict[str, str], image: str, count: int) -> str:
    """What decides whether a deploy trains: code, data, hyperparameters, framework, cluster size."""
    blob = {"code": code_sha256, "data": data_version, "hps": hps, "image": image, "instances": count}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def wait_key(fingerprint_: str, settings: TrainingSettings) -> str:
    """The WaitCondition's id: new whenever its timeout or the gate it reports changes (neither updates)."""
    blob = f"{fingerprint_}/{wait_timeout_s(settings)}/{settings.min_auc}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def quota_needs(
    settings: TrainingSettings, endpoint: EndpointSettings | None, *, with_import: bool
) -> list[quotas.Need]:
    """The SageMaker instance quotas the deploy needs from here on (checked before a job starts)."""
    needs = [quotas.processing_need(IMPORT_INSTANCE_TYPE)] if with_import else []
    needs.append(
        quotas.training_need(settings.instance_type, settings.instance_count, spot=settings.use_spot)
    )
    if endpoint is not None and not endpoint.serverless:
        needs.append(quotas.endpoint_need(endpoint.instance_type, endpoint.instance_count))
    return needs


def wait_timeout_s(settings: TrainingSettings) -> int:
    """Training time (spot: the longest wait for capacity) plus the margin, within the 12 h cap."""
    return min(WAIT_LIMIT_S, max_wait_s(settings) + WAIT_MARGIN_S)


def max_runtime_s(settings: TrainingSettings) -> int:
    return int(settings.max_runtime_hours * 3600)


def max_wait_s(settings: TrainingSettings) -> int:
    """Spot: up to twice the runtime waiting for capacity, within the wait cap; on-demand: the runtime."""
    if not settings.use_spot:
        return max_runtime_s(settings)
    return max(max_runtime_s(settings), min(2 * max_runtime_s(settings), WAIT_LIMIT_S - WAIT_MARGIN_S))


def job_name_prefix(scope: Construct) -> str:
    """`skinlesion-<6 hex>`, unique per stack, so the event rules match this stack's jobs only."""
    stack = Stack.of(scope)
    return "skinlesion-" + hashlib.sha256(f"{stack.stack_name}/{scope.node.path}".encode()).hexdigest()[:6]


def import_image_size(hps: dict[str, str]) -> int:
    """The import's square size: the training size, at least 224 (256 px thumbnails cover up to 256)."""
    try:
        return max(224, int(hps.get("image-size", 224)))
    except ValueError:
        raise ValueError(
            f"-c hyperparameters: image-size must be a whole number of pixels, got {hps['image-size']!r}"
        ) from None


class Training(Construct):
    """The pipeline's resources; `model` is the trained artifact, `completion` the gate to depend on."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        settings: TrainingSettings,
        region: str,
        endpoint: EndpointSettings | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self._bucket, self._settings, self._region = bucket, settings, region
        self._endpoint = endpoint  # its instance quota is checked before training starts
        self.prefix = job_name_prefix(self)
        self.source = source_bundle(self, "Source")
        self.hyperparameters = hyperparameters(settings)
        import_size = import_image_size(self.hyperparameters)
        dataset_prefix = f"datasets/isic/{dataset_id(limit=settings.dataset_limit, image_size=import_size)}/"
        self.role = sagemaker_execution_role(
            self,
            "SageMakerRole",
            bucket=bucket,
            source=self.source,
            region=region,
            dataset_uri=settings.dataset_uri,
            dataset_prefix=None if settings.dataset_uri else dataset_prefix,
        )
        self.functions = PipelineFunctions(
            self,
            "Handlers",
            bucket=bucket,
            job_name_prefix=self.prefix,
            dataset_prefix=dataset_prefix,
            execution_role=self.role,
            region=region,
        )
        train_uri, data_version = self._training_data(import_size)
        image = training_image_uri(region, settings.instance_type)
        self.fingerprint = fingerprint(
            code_sha256=self.source.sha256,
            data_version=data_version,
            hps=self.hyperparameters,
            image=image,
            count=settings.instance_count,
        )
        self.completion = self._job_and_wait(image, train_uri)
        self.job_name = self.job.get_att_string("JobName")
        # Whatever serves or reads the artifact waits for a job that passed the quality gate.
        self.model = ModelArtifact(
            bucket_name=bucket.bucket_name,
            key=self.job.get_att_string("ModelDataKey"),
            depends_on=(self.completion,),
        )

    def _training_data(self, import_size: int) -> tuple[str, str]:
        """(training channel URI, data version): the user's folder, or the ISIC import's output."""
        self.dataset: IsicImport | None = None
        if self._settings.dataset_uri:
            return self._settings.dataset_uri, self._settings.dataset_uri
        self.dataset = IsicImport(
            self,
            "Import",
            bucket_name=self._bucket.bucket_name,
            service_token=self.functions.service_token,
            job_name_prefix=f"{self.prefix}-import",
            role_arn=self.role.role_arn,
            source=self.source,
            region=self._region,
            limit=self._settings.dataset_limit,
            image_size=import_size,
            quota_checks=self._quota_checks(with_import=True),
        )
        self.dataset.job.node.add_dependency(self.functions)  # the rules exist before any job ends
        return self.dataset.dataset_uri, self.dataset.dataset_id

    def _quota_checks(self, *, with_import: bool) -> list[dict[str, str]]:
        needs = quota_needs(self._settings, self._endpoint, with_import=with_import)
        return [need.as_property() for need in needs]

    def _job_and_wait(self, image: str, train_uri: str) -> CfnWaitCondition:
        """The training custom resource and the WaitCondition its job's end event signals."""
        settings = self._settings
        # A new job, timeout or gate gets a new handle and a new wait (CloudFormation cannot
        # update either); an unchanged one keeps the finished wait.
        key = wait_key(self.fingerprint, settings)
        handle = CfnWaitConditionHandle(self, f"WaitHandle{key}")
        self.job = CustomResource(
            self,
            "Job",
            service_token=self.functions.service_token,
            resource_type="Custom::TrainingJob",
            properties={
                "JobNamePrefix": self.prefix,
                "Fingerprint": self.fingerprint,
                "Bucket": self._bucket.bucket_name,
                "Region": self._region,
                "RoleArn": self.role.role_arn,
                "TrainingImage": image,
                "SourceUri": self.source.uri,
                "SourceRevision": f"model_src@sha256:{self.source.sha256[:16]}",
                "EntryPoint": "train.py",
                "TrainUri": train_uri,
                "InstanceType": settings.instance_type,
                "InstanceCount": str(settings.instance_count),
                "VolumeSizeGb": str(VOLUME_GB),
                "MaxRuntimeSeconds": str(max_runtime_s(settings)),
                "UseSpot": str(settings.use_spot).lower(),
                "MaxWaitSeconds": str(max_wait_s(settings)),
                "HyperParameters": self.hyperparameters,
                "MinAuc": str(settings.min_auc),
                "WaitHandleUrl": handle.ref,
                "QuotaChecks": self._quota_checks(with_import=False),
            },
        )
        self.job.node.add_dependency(self.functions)
        if self.dataset is not None:
            self.job.node.add_dependency(self.dataset.completion)
        wait = CfnWaitCondition(
            self,
            f"Wait{key}",
            handle=handle.ref,
            timeout=str(wait_timeout_s(settings)),
            count=1,
        )
        wait.node.add_dependency(self.job)
        return wait
