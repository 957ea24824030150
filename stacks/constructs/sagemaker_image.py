"""The SageMaker TensorFlow Serving image URI, resolved at synth by the `sagemaker` package.

The lookup reads the package's bundled JSON (no network), so the URI comes out
right for every region, including the ones with their own registry account.
"""

from __future__ import annotations

from functools import cache

from stacks.config import EndpointSettings

# The inference container's TensorFlow; the artifact is proven to load in it (tests/model).
TF_SERVING_VERSION = "2.20"
TF_SERVING_PY_VERSION = "py312"


@cache
def _retrieve(region: str, instance_type: str) -> str:
    from sagemaker.core import image_uris  # slow import (~3 s): only when the stack needs it

    return str(
        image_uris.retrieve(
            framework="tensorflow",
            region=region,
            version=TF_SERVING_VERSION,
            py_version=TF_SERVING_PY_VERSION,
            instance_type=instance_type,
            image_scope="inference",
        )
    )


def inference_image_uri(*, region: str, settings: EndpointSettings) -> str:
    """CPU image for serverless (it has no GPUs); otherwise the image for the instance type."""
    instance_type = "ml.m5.large" if settings.serverless else settings.instance_type
    try:
        return _retrieve(region, instance_type)
    except ValueError as err:
        raise ValueError(
            f"No SageMaker TensorFlow {TF_SERVING_VERSION} inference image for region {region!r} and "
            f"{instance_type!r}: {err}. Pass a supported `-c region=…` or `-c instanceType=…`."
        ) from err
