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


# --- Abuse and cost: gateway-answered public routes, per-method throttles, reserved concurrency, WAF.


def _methods(template: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """{(path, verb): Method properties} of the API's non-OPTIONS methods."""
    paths = {
        k: r["Properties"]["PathPart"] for k, r in resources(template, "AWS::ApiGateway::Resource").items()
    }
    return {
        ("/" + paths[m["Properties"]["ResourceId"]["Ref"]], m["Properties"]["HttpMethod"]): m["Properties"]
        for m in resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    }


def _unescape(template_text: str) -> str:
    head = "#set($d = '$')\n#set($h = '#')\n"
    assert template_text.startswith(head)
    body = template_text[len(head) :]
    # Nothing Velocity would interpret is left besides the two variables.
    assert "$" not in body.replace("${d}", "").replace("${h}", "") and "#" not in body
    return body.replace("${d}", "$").replace("${h}", "#")


def test_public_routes_are_answered_by_api_gateway_not_the_lambda(template: Any) -> None:
    from predict_api import openapi

    methods = _methods(template)
    lambda_backed = {key for key, m in methods.items() if m["Integration"]["Type"] == "AWS_PROXY"}
    assert lambda_backed == {("/predict", "POST"), ("/model", "GET")}
    health = methods[("/health", "GET")]["Integration"]
    assert health["Type"] == "MOCK"
    (answer,) = health["IntegrationResponses"]
    body = answer["ResponseTemplates"]["application/json"]
    assert json.loads(body.replace("$context.requestId", "r-1")) == {"status": "ok", "requestId": "r-1"}
    assert answer["ResponseParameters"]["method.response.header.X-Request-Id"] == "context.requestId"
    document = methods[("/openapi.json", "GET")]["Integration"]
    assert document["Type"] == "MOCK"
    (answer,) = document["IntegrationResponses"]
    assert json.loads(_unescape(answer["ResponseTemplates"]["application/json"])) == openapi.document()
    assert len(answer["ResponseTemplates"]["application/json"]) < 300 * 1024  # API Gateway's limit


def test_each_method_has_its_own_throttle(template: Any) -> None:
    stage = one(template, "AWS::ApiGateway::Stage")["Properties"]
    limits = {
        (s["ResourcePath"][1:].replace("~1", "/"), s["HttpMethod"]): (
            s["ThrottlingRateLimit"],
            s["ThrottlingBurstLimit"],
        )
        for s in stage["MethodSettings"]
        if "ThrottlingRateLimit" in s and s["ResourcePath"] != "/*"
    }
    assert limits == {
        ("/health", "GET"): (1, 2),
        ("/openapi.json", "GET"): (1, 2),
        ("/predict", "POST"): (5, 10),
        ("/model", "GET"): (2, 4),
    }


def test_throttles_are_knobs(synth: SynthFn) -> None:
    _, template = synth(model="bundled", publicRateLimit="0.5", publicBurstLimit="1", predictRateLimit="20")
    stage = one(template, "AWS::ApiGateway::Stage")["Properties"]
    by_path = {s["ResourcePath"]: s for s in stage["MethodSettings"]}
    assert (by_path["/~1health"]["ThrottlingRateLimit"], by_path["/~1health"]["ThrottlingBurstLimit"]) == (
        0.5,
        1,
    )
    assert by_path["/~1predict"]["ThrottlingRateLimit"] == 20
    # burst + rate * 25 s per Lambda-backed method: (10 + 20*25) + (4 + 2*25)
    assert _predict_function(template)["ReservedConcurrentExecutions"] == 564


def _predict_function(template: Any) -> dict[str, Any]:
    (function,) = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "predict_api.app.handler"
    ]
    return function


def test_reserved_concurrency_is_what_the_throttles_admit(template: Any) -> None:
    import lesion_contract as contract

    # /predict (burst 10 + 5/s) and /model (burst 4 + 2/s), each call at most the Lambda timeout
    expected = 10 + 5 * contract.LAMBDA_TIMEOUT_S + 4 + 2 * contract.LAMBDA_TIMEOUT_S
    assert _predict_function(template)["ReservedConcurrentExecutions"] == expected


def test_reserved_concurrency_can_be_turned_off_for_small_accounts(synth: SynthFn) -> None:
    _, template = synth(model="bundled", reservedConcurrency="0")
    assert "ReservedConcurrentExecutions" not in _predict_function(template)


def test_no_waf_unless_asked(template: Any) -> None:
    assert not resources(template, "AWS::WAFv2::WebACL")


def test_waf_rate_limits_each_ip_and_applies_the_common_rules_on_the_stage(synth: SynthFn) -> None:
    _, template = synth(model="bundled", waf="true", wafRequestsPer5Min="500")
    acl = one(template, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate = rules["RatePerIp"]["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["AggregateKeyType"]) == (500, "IP")
    assert rules["RatePerIp"]["Action"] == {"Block": {}}
    managed = rules["AwsCommonRules"]["Statement"]["ManagedRuleGroupStatement"]
    assert managed["Name"] == "AWSManagedRulesCommonRuleSet"
    # Image uploads are bodies over 8 KB: that rule only counts, or /predict would be blocked.
    overrides = {o["Name"]: o["ActionToUse"] for o in managed["RuleActionOverrides"]}
    assert overrides["SizeRestrictions_BODY"] == {"Count": {}}
    association = one(template, "AWS::WAFv2::WebACLAssociation")["Properties"]
    (stage_id,) = resources(template, "AWS::ApiGateway::Stage")
    assert "/stages/" in render(association["ResourceArn"]) and stage_id in json.dumps(
        association["ResourceArn"]
    )


def test_access_log_keeps_no_sub_or_ip_unless_asked(template: Any, synth: SynthFn) -> None:
    def log_format(t: Any) -> dict[str, str]:
        stage = one(t, "AWS::ApiGateway::Stage")["Properties"]
        return json.loads(stage["AccessLogSetting"]["Format"])

    fields = log_format(template)
    assert "requestId" in fields and "status" in fields
    assert not {v for v in fields.values() if "sourceIp" in v or "claims" in v}
    with_identity = log_format(synth(model="bundled", accessLogIdentity="true")[1])
    assert with_identity["ip"] == "$context.identity.sourceIp"
    assert with_identity["user"] == "$context.authorizer.claims.sub"
