"""The SageMaker endpoint: TF Serving model, endpoint config (real-time or serverless), endpoint."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

import lesion_contract as contract
from stacks.config import EndpointSettings
from stacks.constructs.deployment_guardrails import deployment_config
from stacks.constructs.model_source import ModelArtifact
from stacks.constructs.retention import service_log_group
from stacks.constructs.sagemaker_image import inference_image_uri
from stacks.constructs.sagemaker_roles import put_metric_data
from stacks.constructs.storage import log_writes, logs_key
from stacks.nag import acknowledge

VARIANT_NAME = "AllTraffic"
# Families whose instances carry NVMe instance storage even without a "d" in their name.
_NVME_FAMILIES = frozenset({"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2", "inf1"})


def has_instance_storage(instance_type: str) -> bool:
    """True for instance types with local NVMe storage (m5d, c5d, g4dn, p3dn, g5…).

    SageMaker encrypts those volumes in hardware and rejects a KmsKeyId on the
    endpoint config for them ("CreateEndpointConfig fails"), so the key is left off.
    """
    family = instance_type.split(".")[1]
    match = re.match(r"^[a-z]+\d+([a-z]*)$", family)
    return family in _NVME_FAMILIES or bool(match and "d" in match.group(1))


class InferenceEndpoint(Construct):
    """One stable endpoint name; Model and EndpointConfig get generated names.

    A new artifact replaces the Model and the EndpointConfig, and CloudFormation
    updates the same endpoint to the new config: a blue/green roll with no
    downtime and no name for the client to change.
    """

    def __init__(
        self, scope: Construct, id_: str, *, model: ModelArtifact, settings: EndpointSettings, region: str
    ) -> None:
        super().__init__(scope, id_)
        self.settings = settings
        self.role = self._execution_role(settings, region)
        model.grant_read(self.role)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=inference_image_uri(region=region, settings=settings),
                model_data_url=model.url,
                mode="SingleModel",
                # The same container settings the local model server runs with (contract.py).
                environment=dict(contract.ENDPOINT_CONTAINER_ENV),
            ),
            # TF Serving and code/inference.py (standard library only) make no network calls;
            # SageMaker fetches the artifact and the image outside the container. Serverless
            # Inference does not support the setting.
            enable_network_isolation=None if settings.serverless else True,
        )
        # SageMaker checks it can read the artifact when the Model is created: policy first.
        # (the role itself is already a dependency through the GetAtt of its ARN).
        policy = self.role.node.find_child("DefaultPolicy")
        self.model.node.add_dependency(policy, *model.depends_on)
        self.key = (
            None if settings.serverless or has_instance_storage(settings.instance_type) else self._key()
        )
        self.endpoint_config = self._endpoint_config()
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=settings.name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        # SageMaker would create this group on first use, with no expiry and outliving the stack.
        self.log_group = service_log_group(
            self, "Logs", name=f"/aws/sagemaker/Endpoints/{settings.name}", key_arn=logs_key(self).key_arn
        )
        self.endpoint.node.add_dependency(self.log_group)
        if not settings.serverless:
            self.scalable_target = self._autoscaling()

    @property
    def endpoint_arn(self) -> str:
        # Ref of AWS::SageMaker::Endpoint is its ARN.
        return self.endpoint.ref

    def roll_back_on(self, alarms: Sequence[cw.IAlarm]) -> None:
        """Model updates go blue/green (canary with 2+ instances) and roll back when an alarm fires.

        Serverless endpoints keep SageMaker's default: all at once, no baking, no rollback.
        """
        if not self.settings.serverless:
            self.endpoint.deployment_config = deployment_config(self.settings, [a.alarm_name for a in alarms])

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """sagemaker:InvokeEndpoint on this endpoint only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )

    def _execution_role(self, settings: EndpointSettings, region: str) -> iam.Role:
        role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        image = inference_image_uri(region=region, settings=settings)
        registry_account = image.split(".", 1)[0]
        repository = image.split("/", 1)[1].split(":", 1)[0]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                resources=[f"arn:{Aws.PARTITION}:ecr:{region}:{registry_account}:repository/{repository}"],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        log_group_name = f"/aws/sagemaker/Endpoints/{settings.name}"
        log_group = f"arn:{Aws.PARTITION}:logs:{region}:{Aws.ACCOUNT_ID}:log-group:{log_group_name}"
        role.add_to_policy(log_writes([log_group]))
        role.add_to_policy(put_metric_data())  # the CreateModel minimum (sagemaker_roles.py)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
            "the image pull is scoped to the one AWS Deep Learning Container repository, the metrics to "
            "SageMaker's /aws/sagemaker/* namespaces.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{log_group}:log-stream:*]".replace(
                Aws.PARTITION, "<AWS::Partition>"
            ).replace(Aws.ACCOUNT_ID, "<AWS::AccountId>"),
            "Log stream names are chosen by SageMaker per instance; scoped to this endpoint's log group.",
        )
        acknowledge(
            role,
            "HIPAA.Security-IAMNoInlinePolicy",
            "CDK writes the endpoint role's scoped statements (its image repository, its log group, the "
            "model artifact's grant) as its default policy; a managed policy would hold the same.",
        )
        return role

    def _key(self) -> kms.Key:
        key = kms.Key(
            self,
            "VolumeKey",
            description="Encrypts the ML storage volumes of the skin-lesion endpoint",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),  # KMS's shortest wait before a deleted key is gone
        )
        # No grant to the execution role: SageMaker uses the key through grants it creates with
        # the credentials of whoever calls CreateEndpoint (CloudFormation), which the default
        # key policy (account principal) lets IAM allow.
        return key

    def _endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        s = self.settings
        if s.serverless:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.attr_model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    max_concurrency=s.serverless_max_concurrency, memory_size_in_mb=s.serverless_memory_mb
                ),
            )
        else:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.attr_model_name,
                initial_instance_count=s.instance_count,
                instance_type=s.instance_type,
                initial_variant_weight=1.0,
            )
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[variant],
            kms_key_id=self.key.key_arn if self.key else None,
        )
        if self.key is None:
            reason = (
                "Serverless Inference manages its own storage and takes no volume key."
                if s.serverless
                else f"{s.instance_type} has NVMe instance storage, encrypted in hardware; "
                "SageMaker rejects a KmsKeyId for it."
            )
            acknowledge(config, "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured", reason)
        return config

    def _autoscaling_role(self) -> iam.IRole:
        """Application Auto Scaling's service-linked role for SageMaker (created on first use).

        Without it CDK would add an empty role of its own, which cannot scale anything.
        """
        arn = (
            f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/"
            "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        )
        return iam.Role.from_role_arn(self, "AutoscalingServiceRole", arn, mutable=False)

    def _autoscaling(self) -> appscaling.ScalableTarget:
        s = self.settings
        target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{s.name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=s.min_instances,
            max_capacity=s.max_instances,
            role=self._autoscaling_role(),
        )
        target.node.add_dependency(self.endpoint)
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            target_value=s.target_invocations_per_instance,
        )
        return target
