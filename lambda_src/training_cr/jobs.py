"""SageMaker job requests built from the custom resources' properties.

CloudFormation hands custom resources every scalar property as a string, so the
numbers and flags are parsed here, with errors that name the property.

Training runs in the SageMaker TensorFlow training container's own script mode
(the `sagemaker-training` toolkit inside the DLC): the hyperparameters
`sagemaker_program` and `sagemaker_submit_directory` tell it to download `model_src/`
as a tar.gz and run `train.py` with every other hyperparameter as `--name value`
after exporting the `SM_*` variables. Values are JSON-encoded, as the SageMaker
Python SDK does and as the toolkit decodes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Where each job's outputs go in the artifacts bucket: one prefix per job name.
TRAINING_PREFIX = "training/"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
TENSORBOARD_LOCAL_PATH = "/opt/ml/output/tensorboard"
PROCESSING_CODE_PATH = "/opt/ml/processing/input/code"
PROCESSING_OUTPUT_PATH = "/opt/ml/processing/output"
# Unpacks the same model_src tarball the training job uses and runs the import
# package, the way the SageMaker SDK's FrameworkProcessor runs a source dir.
PROCESSING_BOOTSTRAP = (
    "set -euo pipefail; mkdir -p /opt/ml/processing/src; "
    f"tar -xzf {PROCESSING_CODE_PATH}/*.gz -C /opt/ml/processing/src; "
    'cd /opt/ml/processing/src; exec python3 -m isic_import "$@"'
)


class PropertyError(ValueError):
    """A custom-resource property is missing or malformed (fails the deploy with this message)."""


def prop(props: Mapping[str, Any], name: str) -> str:
    value = props.get(name)
    if value is None or str(value) == "":
        raise PropertyError(f"custom resource property {name!r} is required")
    return str(value)


def int_prop(props: Mapping[str, Any], name: str, *, low: int = 1) -> int:
    try:
        value = int(float(prop(props, name)))
    except ValueError:
        raise PropertyError(
            f"custom resource property {name!r} must be a number, got {props[name]!r}"
        ) from None
    if value < low:
        raise PropertyError(f"custom resource property {name!r} must be at least {low}, got {value}")
    return value


def bool_prop(props: Mapping[str, Any], name: str) -> bool:
    return str(props.get(name, "false")).strip().lower() == "true"


def training_prefix_uri(bucket: str, name: str) -> str:
    return f"s3://{bucket}/{TRAINING_PREFIX}{name}/"


def model_data_key(name: str) -> str:
    """Where SageMaker writes the artifact: <S3OutputPath>/<job>/output/model.tar.gz."""
    return f"{TRAINING_PREFIX}{name}/output/model.tar.gz"


def script_mode_hyperparameters(props: Mapping[str, Any], name: str) -> dict[str, str]:
    """The user's hyperparameters plus the toolkit's own, all JSON-encoded strings."""
    user = props.get("HyperParameters") or {}
    if not isinstance(user, Mapping):
        raise PropertyError("custom resource property 'HyperParameters' must be a map")
    hps: dict[str, Any] = {str(k): _decode(v) for k, v in user.items()}
    hps |= {
        "sagemaker_program": prop(props, "EntryPoint"),
        "sagemaker_submit_directory": prop(props, "SourceUri"),
        "sagemaker_region": prop(props, "Region"),
        "sagemaker_job_name": name,
        "sagemaker_container_log_level": 20,
        # The folders SageMaker syncs to S3 (CheckpointConfig / TensorBoardOutputConfig below).
        "checkpoint-dir": CHECKPOINT_LOCAL_PATH,
        "tensorboard-dir": TENSORBOARD_LOCAL_PATH,
    }
    if int_prop(props, "InstanceCount") > 1:
        # The DLC toolkit then writes TF_CONFIG for tf.distribute.MultiWorkerMirroredStrategy
        # on every host; train.py picks the strategy from it (lesion_model.distribute).
        hps["sagemaker_multi_worker_mirrored_strategy_enabled"] = True
    return {key: json.dumps(value) for key, value in sorted(hps.items())}


def _decode(value: Any) -> Any:
    """CloudFormation stringifies numbers; keep numbers numbers so train.py gets `--epochs 10`."""
    text = str(value)
    try:
        return json.loads(text)
    except ValueError:
        return text


def training_request(props: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateTrainingJob arguments for job `name`."""
    bucket = prop(props, "Bucket")
    prefix = training_prefix_uri(bucket, name)
    runtime = int_prop(props, "MaxRuntimeSeconds", low=60)
    spot = bool_prop(props, "UseSpot")
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": runtime}
    if spot:
        stopping["MaxWaitTimeInSeconds"] = max(runtime, int_prop(props, "MaxWaitSeconds", low=60))
    return {
        "TrainingJobName": name,
        "RoleArn": prop(props, "RoleArn"),
        "AlgorithmSpecification": {
            "TrainingImage": prop(props, "TrainingImage"),
            "TrainingInputMode": "File",
        },
        "HyperParameters": script_mode_hyperparameters(props, name),
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": prop(props, "TrainUri"),
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{TRAINING_PREFIX}"},
        "ResourceConfig": {
            "InstanceType": prop(props, "InstanceType"),
            "InstanceCount": int_prop(props, "InstanceCount"),
            "VolumeSizeInGB": int_prop(props, "VolumeSizeGb"),
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spot,
        # Spot interruptions resume from here; on-demand runs keep them for inspection.
        "CheckpointConfig": {"S3Uri": f"{prefix}checkpoints/", "LocalPath": CHECKPOINT_LOCAL_PATH},
        "TensorBoardOutputConfig": {
            "S3OutputPath": f"{prefix}tensorboard/",
            "LocalPath": TENSORBOARD_LOCAL_PATH,
        },
        # train.py records the revision in metadata.json (source_revision): which code made the model.
        "Environment": {
            "SKINLESION_FINGERPRINT": prop(props, "Fingerprint"),
            "SKINLESION_SOURCE_REVISION": str(props.get("SourceRevision") or "unknown"),
        },
        "Tags": [{"Key": "skinlesion:fingerprint", "Value": prop(props, "Fingerprint")[:256]}],
    }


def processing_request(props: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateProcessingJob arguments for the ISIC import job `name`."""
    arguments = props.get("Arguments") or []
    if not isinstance(arguments, list):
        raise PropertyError("custom resource property 'Arguments' must be a list")
    return {
        "ProcessingJobName": name,
        "RoleArn": prop(props, "RoleArn"),
        "AppSpecification": {
            "ImageUri": prop(props, "Image"),
            "ContainerEntrypoint": ["/bin/bash", "-c", PROCESSING_BOOTSTRAP, "isic-import"],
            "ContainerArguments": [str(a) for a in arguments] + ["--output", PROCESSING_OUTPUT_PATH],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": prop(props, "SourceUri"),
                    "LocalPath": PROCESSING_CODE_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "dataset",
                    "S3Output": {
                        "S3Uri": f"s3://{prop(props, 'Bucket')}/{prop(props, 'DatasetPrefix')}",
                        "LocalPath": PROCESSING_OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": prop(props, "InstanceType"),
                "VolumeSizeInGB": int_prop(props, "VolumeSizeGb"),
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": int_prop(props, "MaxRuntimeSeconds", low=60)},
        "Environment": {"PYTHONUNBUFFERED": "1"},
    }
