"""The web page: a private S3 bucket behind CloudFront, and its deploy-time `config.json`."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnResource, CustomResource, Duration, Fn
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stacks.config import SiteSettings
from stacks.constructs.storage import NONCURRENT_DAYS, REPLICATION_REASON, logs_key, secure_bucket_props
from stacks.nag import acknowledge, acknowledge_bucket_deployment


def content_security_policy(*connect: str) -> str:
    """The page's CSP. It talks only to its own origin and `connect` (the API's host and Cognito's
    JSON API in its region), so an injected script cannot send a token anywhere else; previews of
    the chosen image are data:/blob: URLs."""
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["connect-src 'self'", *connect]),
            "img-src 'self' data: blob:",
            "style-src 'self' 'unsafe-inline'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def cognito_idp_origin(region: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com"


class Website(Construct):
    """CloudFront (HTTPS only, security headers, access logs) over a bucket only it can read.

    Built in two steps because the API needs the site's origin for CORS and the
    site's `config.json` needs the API's URL: the distribution first, then
    `publish()` once the API exists.
    """

    def __init__(
        self, scope: Construct, id_: str, *, site_dir: Path, log_bucket: s3.IBucket, settings: SiteSettings
    ) -> None:
        super().__init__(scope, id_)
        if not (site_dir / "index.html").is_file():
            raise FileNotFoundError(
                f"The web build is missing ({site_dir / 'index.html'}): run `make web-build` first, "
                "or pass `-c siteDir=<folder with index.html>`."
            )
        self._site_dir = site_dir
        # The site bucket holds only the build output: always removed with the stack.
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            server_access_logs_bucket=log_bucket,
            server_access_logs_prefix="s3/site/",
            # Each deploy replaces the build; the previous one stays restorable for a while.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS))],
            **secure_bucket_props(retain=False),  # type: ignore[arg-type]
        )
        acknowledge(
            self.bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "Holds only the public web build (HTML, JS, CSS, config.json of public IDs), no patient data; "
            "SSE-S3 avoids a KMS key policy for CloudFront's origin access and per-request KMS calls.",
        )
        acknowledge(
            self.bucket,
            "HIPAA.Security-S3BucketReplicationEnabled",
            REPLICATION_REASON.format(what="every `cdk deploy` rebuilds its contents from web/dist"),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Skin-lesion classifier web page",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self._security_headers(),
            ),
            # A single-page app: unknown paths (403 from a private bucket) serve index.html.
            error_responses=[
                cloudfront.ErrorResponse(
                    http_status=status,
                    response_http_status=200,
                    response_page_path="/index.html",
                    ttl=Duration.seconds(0),
                )
                for status in (403, 404)
            ],
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            **_custom_domain(self, settings),  # type: ignore[arg-type]
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="cloudfront/",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "No geo restriction: research users may sign in from any country; Cognito guards the API.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF web ACL by default (a monthly cost); the site is static files and the API "
            "is Cognito-protected.",
        )
        if settings.domain_name is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR4",
                "The default *.cloudfront.net certificate fixes the TLS policy; `-c domainName=… "
                "-c certificateArn=…` (an ACM certificate in us-east-1) serves TLSv1.2_2021 and up.",
            )
        self.url = f"https://{settings.domain_name or self.distribution.distribution_domain_name}"

    @property
    def origin(self) -> str:
        """The site's origin for CORS (`https://<id>.cloudfront.net`)."""
        return self.url

    def publish(self, *, config: dict[str, str]) -> s3deploy.BucketDeployment:
        """Upload the web build plus `config.json` (values resolved at deploy time) and invalidate.

        Also narrows the CSP's connect-src to the API's host (from `config["apiUrl"]`) and
        Cognito's endpoint in `config["region"]`.
        """
        api_host = Fn.select(2, Fn.split("/", config["apiUrl"]))  # https:, "", host, stage
        csp = content_security_policy(
            Fn.join("", ["https://", api_host]), cognito_idp_origin(config["region"])
        )
        self._headers_policy.node.default_child.add_property_override(  # type: ignore[union-attr]
            "ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy",
            csp,
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[
                s3deploy.Source.asset(str(self._site_dir)),
                s3deploy.Source.json_data("config.json", config),
            ],
            destination_bucket=self.bucket,
            # 128 MB copy Lambdas have been SIGKILLed on modest sites.
            memory_limit=512,
        )
        self._invalidate_after(deployment)
        acknowledge_bucket_deployment(deployment.handler_role, destination=self.bucket)
        self._encrypt_handler_logs(deployment)
        return deployment

    def _invalidate_after(self, deployment: s3deploy.BucketDeployment) -> None:
        """Invalidate the distribution after each upload, allowed on this distribution only.

        Given `distribution=`, BucketDeployment grants CreateInvalidation on `*`; instead the
        custom resource gets the distribution's id and paths here (what that prop sets) and
        the handler's role a grant scoped to the distribution's ARN.
        """
        (custom,) = (c for c in deployment.node.children if isinstance(c, CustomResource))
        resource = custom.node.default_child
        assert isinstance(resource, CfnResource), "did aws-cdk-lib's BucketDeployment change?"
        resource.add_property_override("DistributionId", self.distribution.distribution_id)
        resource.add_property_override("DistributionPaths", ["/*"])
        self.distribution.grant(
            deployment.handler_role, "cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"
        )

    def _encrypt_handler_logs(self, deployment: s3deploy.BucketDeployment) -> None:
        """Give the log group CDK creates for the (stack-wide) deployment handler the stack's logs key."""
        handler = deployment.handler_role.node.scope
        assert handler is not None  # the role is a child of the handler function
        log_group = handler.node.try_find_child("LogGroup")
        cfn = log_group.node.default_child if log_group is not None else None
        if not isinstance(cfn, logs.CfnLogGroup):
            raise TypeError(f"expected CDK's log group for {handler.node.path}; did aws-cdk-lib change?")
        cfn.kms_key_id = logs_key(self).key_arn

    def _security_headers(self) -> cloudfront.ResponseHeadersPolicy:
        # connect-src is narrowed to the API and Cognito in publish(); until then only 'self'.
        self._headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(), override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(
                    protection=True, mode_block=True, override=True
                ),
            ),
        )
        return self._headers_policy


def _custom_domain(scope: Construct, settings: SiteSettings) -> dict[str, object]:
    """Distribution props for `-c domainName=… -c certificateArn=…`: the name, its certificate, TLS 1.2+."""
    if settings.domain_name is None or settings.certificate_arn is None:
        return {}
    return {
        "domain_names": [settings.domain_name],
        "certificate": acm.Certificate.from_certificate_arn(scope, "Certificate", settings.certificate_arn),
        "minimum_protocol_version": cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
    }
