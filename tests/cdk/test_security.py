"""Issue 19's controls in the template (docs/security.md): each test names the control it guards."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stacks.config import ConfigError

from .helpers import SynthFn, one, render, resources

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"


def _csp(template: Any) -> str:
    policy = one(template, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    return render(
        policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"][
            "ContentSecurityPolicy"
        ]
    )


def test_csp_connects_only_to_the_site_the_api_host_and_cognito_in_the_region(template: Any) -> None:
    # A script injected into the page cannot send a token to any other *.amazonaws.com host.
    directives = dict(d.strip().split(" ", 1) for d in _csp(template).split(";"))
    sources = directives["connect-src"].split()
    assert "*" not in directives["connect-src"], sources
    assert sources[0] == "'self'"
    assert sources[2] == "https://cognito-idp.us-east-1.amazonaws.com"
    (api_id,) = resources(template, "AWS::ApiGateway::RestApi")
    assert sources[1] == f"https://{{{api_id}}}.execute-api.{{AWS::Region}}.{{AWS::URLSuffix}}"
    assert len(sources) == 3


def test_cloudfront_invalidation_is_allowed_on_the_distribution_only(template: Any) -> None:
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "cloudfront:CreateInvalidation" in json.dumps(statement["Action"])
    ]
    assert statements, "no invalidation grant: the site would serve a stale build after a deploy"
    (distribution_id,) = resources(template, "AWS::CloudFront::Distribution")
    for statement in statements:
        assert statement["Resource"] != "*"
        assert re.fullmatch(
            rf"arn:(aws|\{{AWS::Partition\}}):cloudfront::\{{AWS::AccountId\}}:distribution/\{{{distribution_id}\}}",
            render(statement["Resource"]),
        )
    deployments = [
        r["Properties"]
        for r in resources(template, "Custom::CDKBucketDeployment").values()
        if "DistributionId" in r["Properties"]
    ]
    assert [d["DistributionId"] for d in deployments] == [{"Ref": distribution_id}]
    assert deployments[0]["DistributionPaths"] == ["/*"]


def test_default_site_keeps_cloudfronts_certificate(template: Any) -> None:
    dist = one(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    assert "Aliases" not in dist and "ViewerCertificate" not in dist


def test_a_custom_domain_serves_tls_1_2_2021_and_is_the_cors_origin(synth: SynthFn) -> None:
    _, template = synth(model="bundled", domainName="lesions.example.org", certificateArn=CERT)
    dist = one(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    assert dist["Aliases"] == ["lesions.example.org"]
    assert dist["ViewerCertificate"] == {
        "AcmCertificateArn": CERT,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    functions = resources(template, "AWS::Lambda::Function").values()
    origins = {
        f["Properties"].get("Environment", {}).get("Variables", {}).get("ALLOWED_ORIGIN") for f in functions
    }
    assert "https://lesions.example.org" in origins


@pytest.mark.parametrize(
    "context",
    [
        {"domainName": "lesions.example.org"},
        {"certificateArn": CERT},
        {"domainName": "lesions.example.org", "certificateArn": CERT.replace("us-east-1", "eu-west-1")},
    ],
)
def test_a_custom_domain_needs_both_knobs_and_a_us_east_1_certificate(synth: SynthFn, context: dict) -> None:
    with pytest.raises(ConfigError, match="domainName|certificateArn"):
        synth(model="bundled", **context)
