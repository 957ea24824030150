"""`skinlesion cost`: the arithmetic over prices.json, the stack's defaults, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skinlesion import cli, cost

PRICES = cost.load_prices()
# The stack's defaults: no cdk.json context, no -c values.
DEFAULTS = cost.settings_from_stack({}, root=Path("/nonexistent"))


def test_price_table_records_its_date_region_and_sources() -> None:
    assert PRICES["as_of"] and PRICES["region"] == "us-east-1" and PRICES["currency"] == "USD"
    assert all(url.startswith("https://aws.amazon.com/") for url in PRICES["sources"].values())
    assert "check" in PRICES["notice"].lower()
    # The published anchor prices this estimate is built on.
    assert PRICES["sagemaker"]["training_per_instance_hour"]["ml.p3.2xlarge"] == 3.825
    assert PRICES["sagemaker"]["realtime_per_instance_hour"]["ml.m5.large"] == 0.115


def test_default_settings_cost() -> None:
    # GIVEN the stack's defaults: real-time ml.m5.large x1, serverless 2048 MB, training ml.p3.2xlarge x1
    e = cost.estimate(DEFAULTS, PRICES)
    # THEN each line is the table's price times the quantity
    assert e.training_run == pytest.approx(3.825 * 1.0)
    assert e.training_cap == pytest.approx(3.825 * 4.0)
    assert e.endpoint_hourly == pytest.approx(0.115)
    assert e.endpoint_monthly == pytest.approx(0.115 * 730)  # 83.95
    data_per_request = 0.016 * 0.25 / 1024
    assert e.realtime_by_volume[1_000] == pytest.approx(83.95 + 1_000 * data_per_request)
    assert e.realtime_by_volume[100_000] == pytest.approx(83.95 + 0.390625)
    # serverless: requests x 0.3 s x 2 GB x $0.00002 per GB-second, plus data processed
    assert e.serverless_by_volume[1_000] == pytest.approx(0.012 + 0.00390625)
    assert e.serverless_by_volume[100_000] == pytest.approx(1.2 + 0.390625)
    # API Gateway $3.50/M + Lambda $0.20/M + 0.3 s x 1 GB x $0.0000166667
    per_request = 3.5e-6 + 0.2e-6 + 0.3 * 1.0 * 0.0000166667
    assert e.api_by_volume[100_000] == pytest.approx(100_000 * per_request)


def test_larger_settings_cost() -> None:
    s = cost.with_overrides(
        DEFAULTS,
        endpoint_type="serverless",
        instance_type="ml.c5.xlarge",
        instance_count=2,
        serverless_memory_mb=4096,
        training_instance_type="ml.g4dn.xlarge",
        training_instance_count=2,
        training_hours=2.5,
        training_max_hours=3.0,
        request_seconds=0.5,
        image_mb=1.0,
    )
    e = cost.estimate(s, PRICES)
    assert e.training_run == pytest.approx(0.736 * 2 * 2.5)  # 3.68
    assert e.training_cap == pytest.approx(0.736 * 2 * 3.0)
    assert e.endpoint_hourly == pytest.approx(0.204 * 2)
    assert e.endpoint_monthly == pytest.approx(0.408 * 730)  # 297.84
    assert e.serverless_by_volume[100_000] == pytest.approx(
        100_000 * (0.5 * 4 * 0.00002 + 0.016 / 1024)
    )  # 5.5625
    assert e.realtime_by_volume[100_000] == pytest.approx(297.84 + 100_000 * 0.016 / 1024)


def test_unknown_instance_type_is_one_clear_line(capsys) -> None:
    assert cli.main(["cost", "--instance-type", "ml.z9.large"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skinlesion cost: no real-time hosting price for ml.z9.large")
    assert err.count("\n") == 1


def test_settings_follow_the_stacks_own_rules() -> None:
    # GIVEN only an instance count, WHEN the settings are read, THEN autoscaling's upper bound
    # follows it as the stack's config does (max(2, count)), so cost sees what the deploy makes.
    s = cost.settings_from_stack({"instanceCount": "3"}, root=Path("/nonexistent"))
    assert (s.instance_count, s.max_instances) == (3, 3)
    assert (DEFAULTS.instance_count, DEFAULTS.max_instances) == (1, 2)


def test_context_values_change_the_estimate_like_cdk_deploy(capsys) -> None:
    assert cli.main(["cost", "-c", "endpointType=serverless", "-c", "serverlessMemoryMb=3072", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["endpoint_type"] == "serverless"
    assert report["settings"]["serverless_memory_mb"] == 3072
    assert report["estimate"]["serverless_by_volume"]["100000"] == pytest.approx(
        100_000 * (0.3 * 3 * 0.00002 + 0.016 * 0.25 / 1024)
    )
    assert report["prices"]["as_of"] == PRICES["as_of"]


def test_bad_context_value_is_reported_like_synth_would(capsys) -> None:
    assert cli.main(["cost", "-c", "serverlessMemoryMb=1000"]) == 2
    assert "serverlessMemoryMb" in capsys.readouterr().err


def test_report_shows_both_endpoint_types_source_and_warning(capsys) -> None:
    assert cli.main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "$3.83" in out and "$15.30" in out  # training run and its cap
    assert "$0.115 per hour" in out and "$83.95 per month" in out
    assert "1,000/month" in out and "100,000/month" in out
    assert "* real-time ml.m5.large x1" in out and "  serverless 2048 MB" in out
    assert PRICES["as_of"] in out and PRICES["sources"]["sagemaker"] in out
    assert "check the current pricing" in out


def test_explicit_flags_override_settings() -> None:
    s = cost.with_overrides(DEFAULTS, instance_count=3, training_hours=None)
    assert s.instance_count == 3 and s.training_hours == DEFAULTS.training_hours
