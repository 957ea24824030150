"""SageMaker TensorFlow image URIs (training and serving), resolved at synth by the `sagemaker` package.

The lookup reads the package's bundled JSON (no network), so the URI comes out
right for every region, including the ones with their own registry account.
"""

from __future__ import annotations

from functools import cache

from stacks.config import EndpointSettings

# The inference container's TensorFlow; the artifact is proven to load in it (tests/model).
TF_SERVING_VERSION = "2.20"
TF_SERVING_PY_VERSION = "py312"
# The training container; model_src pins tensorflow 2.21 to match.
TF_TRAINING_VERSION = "2.21"
TF_TRAINING_PY_VERSION = "py312"
_VERSIONS = {
    "inference": (TF_SERVING_VERSION, TF_SERVING_PY_VERSION),
    "training": (TF_TRAINING_VERSION, TF_TRAINING_PY_VERSION),
}


@cache
def tensorflow_image_uri(region: str, instance_type: str, scope: str) -> str:
    """The TensorFlow `scope` ("training" or "inference") image: GPU or CPU build for the instance."""
    from sagemaker.core import image_uris  # slow import (~3 s): only when the stack needs it

    version, py_version = _VERSIONS[scope]
    return str(
        image_uris.retrieve(
            framework="tensorflow",
            region=region,
            version=version,
            py_version=py_version,
            instance_type=instance_type,
            image_scope=scope,
        )
    )


def training_image_uri(region: str, instance_type: str) -> str:
    """The SageMaker TensorFlow training image for the instance type."""
    return tensorflow_image_uri(region, instance_type, "training")


def inference_image_uri(*, region: str, settings: EndpointSettings) -> str:
    """CPU image for serverless (it has no GPUs); otherwise the image for the instance type."""
    instance_type = "ml.m5.large" if settings.serverless else settings.instance_type
    try:
        return tensorflow_image_uri(region, instance_type, "inference")
    except ValueError as err:
        raise ValueError(
            f"No SageMaker TensorFlow {TF_SERVING_VERSION} inference image for region {region!r} and "
            f"{instance_type!r}: {err}. Pass a supported `-c region=…` or `-c instanceType=…`."
        ) from err
