"""The typed config: defaults, parsing of `-c` strings, and errors that say what to pass."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import (
    DEFAULT_REGION,
    AppConfig,
    ConfigError,
    EndpointSettings,
    check_s3_model_uri,
)


def config_from(environ: dict[str, str] | None = None, **context: Any) -> AppConfig:
    return AppConfig.from_context(context.get, environ or {})


def test_defaults_are_a_realtime_deploy_that_trains_in_the_default_region() -> None:
    config = config_from()
    assert config.region == DEFAULT_REGION
    assert config.endpoint.endpoint_type == "realtime"
    assert config.endpoint.instance_type == "ml.m5.large"
    assert (config.endpoint.instance_count, config.endpoint.min_instances, config.endpoint.max_instances) == (
        1,
        1,
        2,
    )
    assert config.model.kind == "train"
    assert config.training.instance_type == "ml.p3.2xlarge"
    assert config.retain_data is False and config.self_sign_up is False


def test_region_comes_from_context_then_cli_default_region() -> None:
    assert config_from({"CDK_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"
    assert (
        config_from({"CDK_DEFAULT_REGION": "eu-west-1"}, region="ap-southeast-2").region == "ap-southeast-2"
    )


def test_command_line_strings_are_parsed_to_types() -> None:
    config = config_from(
        retainData="true",
        instanceCount="2",
        maxInstances="4",
        throttleRateLimit="25.5",
        endpointType="serverless",
    )
    assert config.retain_data is True
    assert config.endpoint.instance_count == 2 and config.endpoint.min_instances == 2
    assert config.endpoint.max_instances == 4
    assert config.api.throttle_rate_limit == 25.5
    assert config.endpoint.serverless


def test_model_data_url_wins_over_the_model_source() -> None:
    config = config_from(modelDataUrl="s3://my-bucket/models/v1/model.tar.gz")
    assert config.model.kind == "existing"


@pytest.mark.parametrize(
    ("context", "names"),
    [
        ({"endpointType": "fast"}, ["endpointType", "realtime, serverless", "-c endpointType="]),
        ({"modelDataUrl": "https://example.com/model.tar.gz"}, ["modelDataUrl", "-c modelDataUrl=s3://"]),
        ({"modelDataUrl": "s3://bucket/model.zip"}, ["modelDataUrl", ".tar.gz"]),
        ({"instanceCount": "two"}, ["instanceCount", "whole number", "-c instanceCount="]),
        ({"instanceCount": "0"}, ["instanceCount", "from 1 to 100"]),
        ({"retainData": "maybe"}, ["retainData", "true or false"]),
        ({"throttleRateLimit": "fast"}, ["throttleRateLimit", "number"]),
        ({"minInstances": "3", "maxInstances": "2", "instanceCount": "3"}, ["minInstances", "maxInstances"]),
        ({"serverlessMemoryMb": "1500"}, ["serverlessMemoryMb", "1024"]),
        ({"instanceType": "m5.large"}, ["instanceType", "ml."]),
        ({"region": "mars"}, ["region", "-c region="]),
        ({"model": "latest"}, ["model", "train, bundled"]),
        ({"endpointName": "bad_name!"}, ["endpointName"]),
    ],
)
def test_bad_values_fail_with_a_message_that_says_what_to_pass(
    context: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from(**context)
    message = str(raised.value)
    for name in names:
        assert name in message
    assert "pass" in message


def test_settings_validate_on_construction_too() -> None:
    with pytest.raises(ConfigError, match="instanceCount"):
        EndpointSettings(instance_count=5, max_instances=2)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://my-bucket/model.tar.gz",
        "s3://my.bucket-1/a/b/c/model.tar.gz",
        "s3://abc/x/job-1/output/model.tar.gz",
    ],
)
def test_well_formed_s3_model_uris_pass(uri: str) -> None:
    assert check_s3_model_uri("modelDataUrl", uri) == uri


def test_config_is_frozen() -> None:
    config = config_from()
    with pytest.raises(AttributeError):
        config.retain_data = True  # type: ignore[misc]
