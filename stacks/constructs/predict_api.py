"""The predict API: the invoke Lambda behind an API Gateway REST API with a Cognito authorizer."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

import lesion_contract as contract
from stacks.bundling import CONTRACT_DIR, LAMBDA_RUNTIME, python_lambda_code
from stacks.config import REPO_ROOT, ApiSettings
from stacks.constructs import storage
from stacks.constructs.api_protection import ApiWebAcl, gateway_answer, method_throttles
from stacks.constructs.api_responses import add_gateway_responses, json_access_log_format
from stacks.constructs.retention import service_log_group
from stacks.nag import LAMBDA_BASIC_EXECUTION, acknowledge

PACKAGE_DIR = REPO_ROOT / "lambda_src" / "predict_api"
HANDLER = "predict_api.app.handler"
STAGE_NAME = "prod"


# HIPAA Security findings on the predict Lambda, with why each does not apply here.
_FUNCTION_HIPAA_REASONS = {
    "HIPAA.Security-LambdaDLQ": "API Gateway invokes the function synchronously (Lambda proxy); a DLQ "
    "applies only to asynchronous invocations, and errors go back to the caller as JSON.",
    "HIPAA.Security-LambdaInsideVPC": "Calls only AWS APIs (SageMaker runtime, S3, X-Ray); in a VPC it "
    "would need a NAT gateway or interface endpoints (an hourly cost) for no added isolation.",
    "HIPAA.Security-IAMNoInlinePolicy": "CDK writes the role's grants (invoke this endpoint, read the "
    "model object) as its default policy; a managed policy would hold the same scoped statements.",
}


class PredictApi(Construct):
    """REST API (binary image bodies) -> one Powertools Lambda -> the SageMaker endpoint.

    The Lambda's timeout stays below the API's integration timeout (both from the
    contract), so a slow model yields the Lambda's JSON 504, never the gateway's.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        user_pool: cognito.IUserPool,
        endpoint_name: str,
        model_metadata_uri: str,
        allowed_origin: str,
        settings: ApiSettings,
    ) -> None:
        super().__init__(scope, id_)
        self.function = self._function(endpoint_name, model_metadata_uri, allowed_origin, settings)
        self.api = self._rest_api(allowed_origin, settings)
        add_gateway_responses(self.api, allowed_origin)
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[user_pool])
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigw.LambdaIntegration(
            self.function, proxy=True, timeout=Duration.seconds(contract.API_INTEGRATION_TIMEOUT_S)
        )
        # contract.ROUTES declares each route once: API Gateway answers the public ones itself
        # (a MOCK: a flood of them costs no Lambda), the Lambda's router the others.
        for route in contract.ROUTES:
            resource = self.api.root.resource_for_path(route.path)
            target, responses = (
                gateway_answer(route, allowed_origin) if route.by_gateway else (integration, None)
            )
            method = resource.add_method(
                route.method,
                target,
                method_responses=responses,
                request_validator=validator,
                authorizer=None if route.public else authorizer,
                authorization_type=apigw.AuthorizationType.NONE
                if route.public
                else apigw.AuthorizationType.COGNITO,
            )
            if route.public:
                reason = (
                    f"{route.method} {route.path} is public by design (DESIGN.md): "
                    "probes and API docs need no token."
                )
                acknowledge(method, "AwsSolutions-APIG4", reason)
                acknowledge(method, "AwsSolutions-COG4", reason)
        # Without a trailing slash, so clients append "/predict" etc. directly.
        self.url = Fn.join(
            "",
            [
                "https://",
                self.api.rest_api_id,
                ".execute-api.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                "/",
                STAGE_NAME,
            ],
        )

    def _function(
        self, endpoint_name: str, metadata_uri: str, allowed_origin: str, settings: ApiSettings
    ) -> lambda_.Function:
        log_group = storage.log_group(
            self, "FunctionLogs", retention=logs.RetentionDays.ONE_MONTH, encrypted=True
        )
        function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,  # the bundle holds manylinux x86_64 wheels
            code=python_lambda_code(PACKAGE_DIR, shared=[CONTRACT_DIR]),
            handler=HANDLER,
            timeout=Duration.seconds(contract.LAMBDA_TIMEOUT_S),
            memory_size=settings.lambda_memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            # What the throttles can admit at once (ApiSettings.lambda_concurrency, docs/security.md).
            reserved_concurrent_executions=settings.lambda_concurrency or None,
            environment={
                contract.ENV_ENDPOINT_NAME: endpoint_name,
                contract.ENV_MODEL_METADATA_URI: metadata_uri,
                contract.ENV_ALLOWED_ORIGIN: allowed_origin,
                # The dashboard and alarms read the same two (stack.py): one home, the contract.
                "POWERTOOLS_SERVICE_NAME": contract.DEFAULT_SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": contract.DEFAULT_METRICS_NAMESPACE,
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 is the runtime the bundle's wheels are built for (--python-version 3.12).",
        )
        acknowledge(
            function,
            f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
            "The predict Lambda's role: the basic execution policy only lets it write its own logs.",
        )
        acknowledge(
            function,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
        )
        for rule_id, reason in _FUNCTION_HIPAA_REASONS.items():
            acknowledge(function, rule_id, reason)
        if not settings.lambda_concurrency:
            acknowledge(
                function,
                "HIPAA.Security-LambdaConcurrency",
                "The deployer passed `-c reservedConcurrency=0` (an account whose unreserved pool is too "
                "small to reserve from); the per-method throttles still bound concurrency.",
            )
        return function

    def _rest_api(self, allowed_origin: str, settings: ApiSettings) -> apigw.RestApi:
        access_logs = storage.log_group(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, encrypted=True
        )
        api = apigw.RestApi(
            self,
            "RestApi",
            description="Skin-lesion classifier: POST an image to /predict with a Cognito ID token",
            binary_media_types=list(contract.BINARY_MEDIA_TYPES),
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account-level role API Gateway needs to write any logs; removed with the stack.
            # Off (-c apiGatewayCloudWatchRole=false) keeps the account's own (config.py).
            cloud_watch_role=settings.cloud_watch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY if settings.cloud_watch_role else None,
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=[allowed_origin],
                allow_methods=list(contract.CORS_ALLOW_METHODS),
                allow_headers=list(contract.CORS_ALLOW_HEADERS),
                max_age=Duration.seconds(contract.CORS_MAX_AGE_S),
            ),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
                method_options=method_throttles(settings),
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request bodies: medical images
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=json_access_log_format(identity=settings.access_log_identity),
            ),
        )
        # CDK's automatic "Endpoint" output has a trailing slash and a hashed key; the stack
        # outputs ApiUrl instead.
        api.node.try_remove_child("Endpoint")
        if settings.waf:
            ApiWebAcl(
                self,
                "Waf",
                stage_arn=api.deployment_stage.stage_arn,
                requests_per_5min=settings.waf_requests_per_5min,
            )
        else:
            acknowledge(
                api.deployment_stage,
                "AwsSolutions-APIG3",
                "No WAF web ACL by default (a monthly cost, docs/security.md); Cognito, per-method throttles "
                "and gateway-answered public routes bound abuse; `-c waf=true` adds one.",
            )
        acknowledge(
            api.deployment_stage,
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "No stage cache: every answer is for the one uploaded image (POST /predict) or a per-user "
            "read, so caching would be wrong; with no cache there is no cached data to encrypt.",
        )
        acknowledge(
            api.deployment_stage,
            "HIPAA.Security-APIGWSSLEnabled",
            "A client certificate lets an HTTP backend authenticate API Gateway; the only integration is "
            "a Lambda proxy invoked through IAM (the function's resource policy names this API).",
        )
        acknowledge(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account logging role: the AWS managed policy is the documented way to let "
            "API Gateway write access and execution logs.",
        )
        # API Gateway writes its execution log (level ERROR) to this group by name, creating it
        # with no expiry if missing: declared here, it gets the stack's retention and goes with it.
        execution_logs = service_log_group(
            self,
            "ExecutionLogs",
            name=f"API-Gateway-Execution-Logs_{api.rest_api_id}/{STAGE_NAME}",
            key_arn=storage.logs_key(self).key_arn,
        )
        api.deployment_stage.node.add_dependency(execution_logs)
        return api
