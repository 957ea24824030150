"""The SageMaker endpoint: TF Serving image by lookup, stable name, real-time vs serverless, KMS rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.inference_endpoint import has_instance_storage

from .helpers import SynthFn, endpoint_keys, one, resources


def endpoint_model(template: Any) -> dict[str, Any]:
    """The endpoint's model (the batch construct adds a second one with the same container)."""
    (model,) = [
        m for k, m in resources(template, "AWS::SageMaker::Model").items() if k.startswith("Inference")
    ]
    return model


def test_model_runs_the_tf_serving_220_image_for_the_stack_region(template: Any) -> None:
    container = endpoint_model(template)["Properties"]["PrimaryContainer"]
    image = container["Image"]
    assert image.endswith(".dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.20-cpu-py312")
    assert "model.tar.gz" in json.dumps(container["ModelDataUrl"])


def test_model_batches_requests_like_the_local_model_server(template: Any) -> None:
    import lesion_contract as contract
    from skinlesion.local.batching import DEFAULT_MAX_BATCH, DEFAULT_TIMEOUT_S

    container = endpoint_model(template)["Properties"]["PrimaryContainer"]
    assert container["Environment"] == contract.ENDPOINT_CONTAINER_ENV
    # The local stack's batcher uses the same size and wait when it runs with these settings.
    assert int(contract.ENDPOINT_CONTAINER_ENV["SAGEMAKER_TFS_MAX_BATCH_SIZE"]) == DEFAULT_MAX_BATCH
    assert int(contract.ENDPOINT_CONTAINER_ENV["SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS"]) == round(
        DEFAULT_TIMEOUT_S * 1e6
    )


def test_image_follows_the_region_including_regions_with_their_own_registry(synth: SynthFn) -> None:
    _, template = synth(model="bundled", region="ap-east-1")
    image = endpoint_model(template)["Properties"]["PrimaryContainer"]["Image"]
    assert ".dkr.ecr.ap-east-1.amazonaws.com/tensorflow-inference:2.20-cpu-py312" in image
    assert not image.startswith("763104351884.")  # ap-east-1 has its own DLC account


def test_endpoint_name_is_stable_while_model_and_config_names_are_generated(template: Any) -> None:
    assert one(template, "AWS::SageMaker::Endpoint")["Properties"]["EndpointName"] == "skin-lesion-classifier"
    assert "ModelName" not in endpoint_model(template)["Properties"]
    assert "EndpointConfigName" not in one(template, "AWS::SageMaker::EndpointConfig")["Properties"]


def test_realtime_default_is_one_encrypted_m5_large_with_autoscaling(template: Any) -> None:
    config = one(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
    assert "KmsKeyId" in config
    ((key_id, key),) = endpoint_keys(template).items()
    assert key_id in json.dumps(config["KmsKeyId"])  # the endpoint uses its own key
    assert key["Properties"]["EnableKeyRotation"] is True and key["Properties"]["PendingWindowInDays"] == 7
    assert key["DeletionPolicy"] == "Delete"
    target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in json.dumps(target["RoleARN"])
    policy = one(template, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["TargetValue"] == 100


def test_autoscaling_bounds_follow_context(synth: SynthFn) -> None:
    _, template = synth(model="bundled", instanceCount="2", minInstances="2", maxInstances="5")
    target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)


def test_serverless_has_memory_and_concurrency_and_no_instances_key_or_scaling(synth: SynthFn) -> None:
    _, template = synth(model="bundled", endpointType="serverless", serverlessMemoryMb="3072")
    config = one(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MaxConcurrency": 5, "MemorySizeInMB": 3072}
    assert "InstanceType" not in variant and "KmsKeyId" not in config
    assert resources(template, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    assert endpoint_keys(template) == {}


def test_instance_storage_types_get_no_kms_key(synth: SynthFn) -> None:
    _, template = synth(model="bundled", instanceType="ml.g4dn.xlarge")
    config = one(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert "KmsKeyId" not in config
    image = endpoint_model(template)["Properties"]["PrimaryContainer"]["Image"]
    assert image.endswith("tensorflow-inference:2.20-gpu-py312")


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
        ("ml.c7i.large", False),
        ("ml.m5d.large", True),
        ("ml.c5d.2xlarge", True),
        ("ml.g4dn.xlarge", True),
        ("ml.p3dn.24xlarge", True),
        ("ml.c6id.large", True),
        ("ml.g5.xlarge", True),
        ("ml.inf2.xlarge", False),
    ],
)
def test_instance_storage_detection(instance_type: str, local: bool) -> None:
    assert has_instance_storage(instance_type) is local


def test_execution_role_reads_only_the_model_object_and_pulls_only_the_dlc_repository(template: Any) -> None:
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if "InferenceExecutionRole" in json.dumps(policy["Properties"]["Roles"]):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}
    assert json.dumps(by_action['"s3:GetObject"']).endswith('/model.tar.gz"]]}')
    pulls = [r for a, r in by_action.items() if "ecr:BatchGetImage" in a]
    assert len(pulls) == 1
    assert json.dumps(pulls[0]).endswith(':ecr:us-east-1:763104351884:repository/tensorflow-inference"]]}')
