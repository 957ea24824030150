"""What keeps the predict API affordable under abuse (docs/security.md, "Abuse and cost").

- The public routes (`contract.GATEWAY_ROUTES`: GET /health, GET /openapi.json) are MOCK
  integrations: API Gateway answers them itself, so a flood costs no Lambda invocation,
  no X-Ray trace and no share of the Lambda's reserved concurrency.
- Each method has its own throttle (`ApiSettings.method_limits`), so a flood of one route
  cannot spend another's budget.
- An optional WAF web ACL (`-c waf=true`): a rate-based rule per client IP and AWS's common
  rule set, associated with the stage.
"""

from __future__ import annotations

import json

from aws_cdk import Fn
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from predict_api.openapi import document as openapi_document

import lesion_contract as contract
from stacks.config import ApiSettings
from stacks.nag import acknowledge

# API Gateway caps a mapping template at 300 KB; the OpenAPI document is about 19 KB.
MAPPING_TEMPLATE_LIMIT_BYTES = 300 * 1024
# The common rule set's body rules would block image uploads: SizeRestrictions_BODY blocks any
# body over 8 KB, and binary image bytes can match the cross-site-scripting body patterns.
# They count (visible in WAF's metrics) instead of blocking; the header, URI and query rules block.
COUNT_ONLY_COMMON_RULES = ("SizeRestrictions_BODY", "CrossSiteScripting_BODY")


def velocity_literal(text: str) -> str:
    """`text` as a mapping template that renders to exactly `text`.

    Velocity reads `$name` as a reference and `#name` as a directive (`##` starts a comment);
    the OpenAPI document has `$ref` and `#/components/...`. Both characters come from
    variables set with single-quoted (uninterpreted) strings.
    """
    escaped = text.replace("$", "${d}").replace("#", "${h}")
    return "#set($d = '$')\n#set($h = '#')\n" + escaped


def gateway_answer(
    route: contract.Route, allowed_origin: str
) -> tuple[apigw.Integration, list[apigw.MethodResponse]]:
    """The MOCK integration and method responses of one gateway-answered route.

    The answers are the ones the Lambda gave: the health body with the request id, the
    OpenAPI document (built from the contract at synth time), the X-Request-Id header and
    the site's CORS headers.
    """
    if route.path == contract.ROUTE_HEALTH:
        body = json.dumps({"status": contract.HEALTH_STATUS, "requestId": "@ID@"}).replace(
            '"@ID@"', '"$context.requestId"'
        )
    elif route.path == contract.ROUTE_OPENAPI:
        body = velocity_literal(json.dumps(openapi_document(), separators=(",", ":")))
    else:
        raise ValueError(f"{route.method} {route.path} is not answered by the gateway")
    if len(body.encode()) > MAPPING_TEMPLATE_LIMIT_BYTES:
        raise ValueError(f"{route.path}'s answer exceeds API Gateway's mapping template limit")
    headers = {
        "Content-Type": f"'{contract.JSON_CONTENT_TYPE}'",
        contract.REQUEST_ID_HEADER: "context.requestId",
        "Access-Control-Allow-Origin": Fn.join("", ["'", allowed_origin, "'"]),
        "Access-Control-Expose-Headers": "'" + ",".join(contract.CORS_EXPOSE_HEADERS) + "'",
        "Vary": "'Origin'",
    }
    integration = apigw.MockIntegration(
        request_templates={contract.JSON_CONTENT_TYPE: '{"statusCode": 200}'},
        passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_TEMPLATES,
        integration_responses=[
            apigw.IntegrationResponse(
                status_code="200",
                response_templates={contract.JSON_CONTENT_TYPE: body},
                response_parameters={f"method.response.header.{k}": v for k, v in headers.items()},
            )
        ],
    )
    method_response = apigw.MethodResponse(
        status_code="200",
        response_parameters={f"method.response.header.{k}": True for k in headers},
    )
    return integration, [method_response]


def method_throttles(settings: ApiSettings) -> dict[str, apigw.MethodDeploymentOptions]:
    """The stage's per-method throttles, keyed as CDK's StageOptions.method_options wants (`/path/VERB`)."""
    return {
        f"{path}/{method}": apigw.MethodDeploymentOptions(
            throttling_rate_limit=rate, throttling_burst_limit=burst
        )
        for (path, method), (rate, burst) in settings.method_limits().items()
    }


class ApiWebAcl(Construct):
    """A regional WAF web ACL on the API's stage: per-IP rate limit, then AWS's common rules."""

    def __init__(self, scope: Construct, id_: str, *, stage_arn: str, requests_per_5min: int) -> None:
        super().__init__(scope, id_)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("SkinLesionApi"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=requests_per_5min, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=_visibility("RatePerIp"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="AwsCommonRules",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name="AWSManagedRulesCommonRuleSet",
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name=name, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                                )
                                for name in COUNT_ONLY_COMMON_RULES
                            ],
                        )
                    ),
                    visibility_config=_visibility("AwsCommonRules"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        acknowledge(
            self.web_acl,
            "HIPAA.Security-WAFv2LoggingEnabled",
            "WAF's request log records each client's IP and headers, which the API's access log "
            "deliberately leaves out (docs/security.md); each rule's matches are counted in CloudWatch.",
        )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    # Sampled requests would keep client IPs and headers in WAF's console: off, as in the access log.
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
    )
