"""The site: private bucket behind CloudFront (OAC, HTTPS, headers, logs) and a deploy-time config.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .helpers import SynthFn, one, render, resources


def test_distribution_serves_https_only_through_origin_access_control(template: Any) -> None:
    dist = one(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    behavior = dist["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "ResponseHeadersPolicyId" in behavior
    (origin,) = dist["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    oac = one(template, "AWS::CloudFront::OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    assert dist["Logging"]["Prefix"] == "cloudfront/"
    assert dist["DefaultRootObject"] == "index.html"


def test_unknown_paths_serve_the_single_page_app(template: Any) -> None:
    dist = one(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    mapped = {
        (e["ErrorCode"], e["ResponseCode"], e["ResponsePagePath"]) for e in dist["CustomErrorResponses"]
    }
    assert mapped == {(403, 200, "/index.html"), (404, 200, "/index.html")}


def test_security_headers_include_hsts_csp_and_frame_denial(template: Any) -> None:
    policy = one(template, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"][
        "ResponseHeadersPolicyConfig"
    ]
    headers = policy["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ContentTypeOptions"]["Override"] is True
    csp = render(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_site_bucket_is_readable_only_by_this_distribution(template: Any) -> None:
    site_policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for key, p in resources(template, "AWS::S3::BucketPolicy").items()
        if key.startswith("WebsiteBucket")
    ]
    (statements,) = site_policies
    reads = [s for s in statements if s["Effect"] == "Allow" and "s3:GetObject" in json.dumps(s["Action"])]
    assert len(reads) == 1
    assert reads[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in reads[0]["Condition"]["StringEquals"]


def test_deployment_writes_config_json_from_stack_values_with_more_memory(default_stack: Any) -> None:
    stack, template = default_stack
    deployments = [
        d["Properties"]
        for key, d in resources(template, "Custom::CDKBucketDeployment").items()
        if key.startswith("WebsiteDeployment")
    ]
    (deployment,) = deployments
    assert deployment["DistributionPaths"] == ["/*"]
    markers = {k: json.dumps(v) for source in deployment["SourceMarkers"] for k, v in source.items()}
    handler = [
        f["Properties"]
        for key, f in resources(template, "AWS::Lambda::Function").items()
        if key.startswith("CustomCDKBucketDeployment")
    ]
    assert [h["MemorySize"] for h in handler] == [512]
    config = _config_json(stack)
    assert set(config) == {"apiUrl", "region", "userPoolId", "userPoolClientId", "mode"}
    assert config["mode"] == "aws" and config["region"] == "us-east-1"
    # The deploy-time values: each marker resolves to the stack's own resource.
    assert "ApiRestApi" in markers[config["apiUrl"]] and "/prod" in markers[config["apiUrl"]]
    assert "AuthUserPool" in markers[config["userPoolId"]]
    assert "AuthUserPoolWebClient" in markers[config["userPoolClientId"]]


def test_missing_web_build_fails_synth_with_the_command_to_run(synth: SynthFn, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make web-build"):
        synth(model="bundled", siteDir=str(tmp_path / "nothing-here"))


def _config_json(stack: Any) -> dict[str, Any]:
    """The staged config.json asset, its unquoted deploy-time markers read as strings."""
    outdir = Path(stack.node.root.outdir)
    stack.node.root.synth()
    for candidate in outdir.glob("asset.*/config.json"):
        return json.loads(re.sub(r"(<<marker:0xbaba:\d+>>)", r'"\1"', candidate.read_text()))
    raise AssertionError(f"no config.json asset staged in {outdir}")
