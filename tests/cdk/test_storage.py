"""Buckets: encrypted, TLS-only, private, logged; destroyed by default, retained on request."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import SynthFn, resources


def _tls_only(policy: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_every_bucket_is_encrypted_and_blocks_public_access(template: Any) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # artifacts, access logs, web site
    for bucket in buckets.values():
        props = bucket["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }


def test_every_bucket_policy_denies_plain_http(template: Any) -> None:
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == len(resources(template, "AWS::S3::Bucket"))
    assert all(_tls_only(p) for p in policies.values())


def test_artifacts_bucket_is_versioned_and_logs_to_the_log_bucket(template: Any) -> None:
    versioned = [
        b
        for b in resources(template, "AWS::S3::Bucket").values()
        if b["Properties"].get("VersioningConfiguration", {}).get("Status") == "Enabled"
    ]
    assert len(versioned) == 1
    logging = versioned[0]["Properties"]["LoggingConfiguration"]
    assert logging["LogFilePrefix"] == "s3/artifacts/"
    assert "Ref" in logging["DestinationBucketName"]


def test_nothing_is_retained_by_default(template: Any) -> None:
    kept = {
        key: r["Type"]
        for key, r in template.to_json()["Resources"].items()
        if r.get("DeletionPolicy", "Delete") != "Delete" or r.get("UpdateReplacePolicy", "Delete") != "Delete"
    }
    assert kept == {}
    # Objects are emptied on destroy, or the bucket deletion would fail.
    assert len(resources(template, "Custom::S3AutoDeleteObjects")) == 3


@pytest.fixture(scope="module")
def retained(synth: SynthFn) -> Any:
    return synth(retainData="true")[1]


def test_retain_data_keeps_the_data_buckets_but_not_the_site(retained: Any) -> None:
    buckets = resources(retained, "AWS::S3::Bucket")
    policies = {key: b["DeletionPolicy"] for key, b in buckets.items()}
    assert sorted(policies.values()) == ["Delete", "Retain", "Retain"]
    site = [k for k, b in buckets.items() if "WebsiteBucket" in k]
    assert [policies[k] for k in site] == ["Delete"]
    # Retained buckets keep their objects: no auto-delete for them.
    assert len(resources(retained, "Custom::S3AutoDeleteObjects")) == 1
