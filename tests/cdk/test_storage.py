"""Buckets: encrypted, TLS-only, private, logged; destroyed by default, retained on request."""

from __future__ import annotations

import json
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


def test_every_bucket_is_versioned_and_expires_old_versions(template: Any) -> None:
    for key, bucket in resources(template, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, key
        # Versioning must not grow without bound: every bucket expires noncurrent versions.
        rules = props["LifecycleConfiguration"]["Rules"]
        assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for r in rules), key


def test_artifacts_and_site_buckets_log_to_the_log_bucket(template: Any) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    prefixes = {
        b["Properties"]["LoggingConfiguration"]["LogFilePrefix"]
        for b in buckets.values()
        if "LoggingConfiguration" in b["Properties"]
    }
    assert prefixes == {"s3/artifacts/", "s3/site/"}
    (log_bucket,) = [k for k in buckets if k.startswith("StorageAccessLogs")]
    for bucket in buckets.values():
        if "LoggingConfiguration" in bucket["Properties"]:
            assert bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {
                "Ref": log_bucket
            }
    # S3 delivers server access logs only to an SSE-S3 target (the HIPAA KMS finding is acknowledged).
    rule = buckets[log_bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_every_log_group_is_encrypted_with_the_one_rotating_logs_key(template: Any) -> None:
    keys = {k: v for k, v in resources(template, "AWS::KMS::Key").items() if k.startswith("LogsKey")}
    ((key_id, key),) = keys.items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Delete"  # like the log groups it encrypts
    groups = resources(template, "AWS::Logs::LogGroup")
    # predict Lambda, API access and execution logs, CDK's BucketDeployment and auto-delete handlers,
    # the endpoint's (the last three the stack declares so they expire: docs/operations.md)
    assert len(groups) == 6
    for group_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}, group_id


def test_logs_key_serves_only_cloudwatch_logs_of_this_account_and_region(template: Any) -> None:
    key = next(v for k, v in resources(template, "AWS::KMS::Key").items() if k.startswith("LogsKey"))
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if "Service" in s["Principal"]]
    assert json.dumps(logs["Principal"]["Service"]).count("logs.") == 1
    assert "kms:*" not in logs["Action"] and "kms:Decrypt*" in logs["Action"]
    context = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    rendered = json.dumps(context)
    assert all(part in rendered for part in ('":logs:"', "AWS::Region", "AWS::AccountId", ":log-group:*"))


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
