"""SkinLesionStack: the whole product in one stack, composed of one construct per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aspects, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

import lesion_contract as contract
from stacks.config import AppConfig
from stacks.constructs.auth import Auth
from stacks.constructs.batch_transform import BatchTransform
from stacks.constructs.inference_endpoint import VARIANT_NAME, InferenceEndpoint
from stacks.constructs.model_source import ModelArtifact, bundled_model
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.monitoring_metrics import ServiceMetrics
from stacks.constructs.predict_api import PredictApi
from stacks.constructs.retention import LogRetention, give_cdk_providers_log_groups
from stacks.constructs.storage import Storage, logs_key
from stacks.constructs.training import Training
from stacks.constructs.website import Website
from stacks.nag import acknowledge_cdk_singletons

# Output keys the CLI reads (`aws cloudformation describe-stacks` / `cdk deploy --outputs-file`).
OUTPUT_KEYS = ("WebUrl", "ApiUrl", "UserPoolId", "UserPoolClientId", "EndpointName", "Region")


class SkinLesionStack(Stack):
    """Storage, model, endpoint, sign-in, API and web page, wired with grants."""

    def __init__(self, scope: Construct, id_: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, id_, description="Serverless skin-lesion classifier (SageMaker + API + web)", **kwargs
        )
        storage = Storage(self, "Storage", retain=config.retain_data)
        model = self._model_artifact(config, storage)
        endpoint = InferenceEndpoint(
            self, "Inference", model=model, settings=config.endpoint, region=self.region
        )
        self.batch = BatchTransform(
            self, "Batch", endpoint=endpoint, model=model, bucket=storage.artifacts_bucket, region=self.region
        )
        auth = Auth(self, "Auth", self_sign_up=config.self_sign_up, settings=config.auth)
        site = Website(
            self,
            "Website",
            site_dir=config.site_dir,
            log_bucket=storage.access_log_bucket,
            settings=config.site,
        )
        api = PredictApi(
            self,
            "Api",
            user_pool=auth.user_pool,
            endpoint_name=endpoint.endpoint_name,
            model_metadata_uri=model.metadata_uri,
            allowed_origin=site.origin,
            settings=config.api,
        )
        endpoint.grant_invoke(api.function)
        model.grant_read(api.function)  # the Lambda reads metadata.json from the artifact
        # ...so it switches to a new artifact only once it exists (training: passed the gate).
        api.function.node.add_dependency(*model.depends_on)
        site.publish(
            config={
                "apiUrl": api.url,
                "region": self.region,
                "userPoolId": auth.user_pool.user_pool_id,
                "userPoolClientId": auth.user_pool_client.user_pool_client_id,
                "mode": "aws",
            }
        )
        self.storage, self.endpoint, self.auth, self.api, self.site = storage, endpoint, auth, api, site
        self.monitoring = self._monitoring(config)
        endpoint.roll_back_on(self.monitoring.endpoint_alarms)  # a model update bakes under these
        give_cdk_providers_log_groups(self, key_arn=logs_key(self).key_arn)
        Aspects.of(self).add(LogRetention(config.log_retention_days))
        self._outputs()
        acknowledge_cdk_singletons(self)
        self._destroy_cdk_handler_logs()

    def _model_artifact(self, config: AppConfig, storage: Storage) -> ModelArtifact:
        """The one model seam: an existing S3 artifact, the bundled one, or training."""
        source = config.model
        if source.kind == "existing":
            assert source.model_data_url is not None  # kind "existing" guarantees it
            return ModelArtifact.from_s3_url(source.model_data_url)
        if source.kind == "bundled":
            return bundled_model(
                self, "BundledModel", path=source.bundled_path, bucket=storage.artifacts_bucket
            )
        # Import ISIC data, train on SageMaker, gate on validation AUC (constructs/training.py).
        self.training = Training(
            self,
            "Training",
            bucket=storage.artifacts_bucket,
            settings=config.training,
            region=self.region,
            endpoint=config.endpoint,  # its instance quota is checked before training starts
        )
        CfnOutput(self, "TrainingJobName", value=self.training.job_name, description="SageMaker training job")
        return self.training.model

    def _monitoring(self, config: AppConfig) -> Monitoring:
        """Dashboard, alarms and their topic (docs/operations.md); the metrics the Lambda emits."""
        metrics = ServiceMetrics(
            api=self.api.api,
            function=self.api.function,
            endpoint_name=config.endpoint.name,
            variant_name=VARIANT_NAME,
            # What the Lambda's environment names (constructs/predict_api.py): one home, the contract.
            namespace=contract.DEFAULT_METRICS_NAMESPACE,
            service=contract.DEFAULT_SERVICE_NAME,
        )
        training = getattr(self, "training", None)
        return Monitoring(
            self,
            "Monitoring",
            metrics=metrics,
            settings=config.monitoring,
            serverless=config.endpoint.serverless,
            training_job_prefix=training.prefix if training else None,
        )

    def _destroy_cdk_handler_logs(self) -> None:
        """CDK gives its BucketDeployment handler a retained log group; nothing may outlive `cdk destroy`."""
        for child in self.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                for construct in child.node.find_all():
                    if isinstance(construct, logs.CfnLogGroup):
                        construct.apply_removal_policy(RemovalPolicy.DESTROY)

    def _outputs(self) -> None:
        values = {
            "WebUrl": (self.site.url, "The web page (CloudFront)"),
            "ApiUrl": (self.api.url, "The REST API base URL, no trailing slash: POST <ApiUrl>/predict"),
            "UserPoolId": (self.auth.user_pool.user_pool_id, "Cognito user pool (create users here)"),
            "UserPoolClientId": (self.auth.user_pool_client.user_pool_client_id, "Cognito app client"),
            "EndpointName": (self.endpoint.endpoint_name, "SageMaker endpoint"),
            "Region": (self.region, "Region of the stack"),
        }
        for key in OUTPUT_KEYS:
            value, description = values[key]
            CfnOutput(self, key, value=value, description=description)
        CfnOutput(
            self, "DashboardUrl", value=self.monitoring.dashboard_url, description="CloudWatch dashboard"
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.monitoring.topic.topic_arn,
            description="SNS topic of the alarms",
        )
