"""The local stack's Lambda writes the metric lines the deployed Lambda writes (docs/operations.md):
the same EMF names, namespace and service, to its stdout, which `skinlesion up` keeps in
.local/lambda.log, so the metrics can be seen without an AWS account."""

from __future__ import annotations

import json
import time

import lesion_contract as contract
from lesion_contract import metrics as names
from skinlesion.local.authorizer import CognitoAuthorizer
from skinlesion.local.events import HttpRequest, proxy_event
from skinlesion.local.gateway import GatewayConfig
from skinlesion.local.lambda_runtime import LambdaContext, load_handler

from .test_gateway import ORIGIN, isolated_handler_modules  # noqa: F401 - the fixture


def test_the_local_lambda_prints_the_clouds_metrics(isolated_handler_modules, capsys):  # noqa: F811
    authorizer = CognitoAuthorizer(jwks_url="http://127.0.0.1:9/jwks.json", issuer="https://i", client_id="c")
    config = GatewayConfig(
        endpoint_url="http://127.0.0.1:9",
        endpoint_name="e",
        model_metadata_uri="/nonexistent",
        allowed_origin=ORIGIN,
        authorizer=authorizer,
    )
    handler = load_handler(config.lambda_env())
    request = HttpRequest(
        method="GET",
        path="/health",
        query="",
        headers=[("Host", "x")],
        body=b"",
        source_ip="127.0.0.1",
        host="x",
    )
    event = proxy_event(request, resource="/health", stage="prod", claims=None)

    answer = handler(event, LambdaContext(aws_request_id="local-1", deadline=time.monotonic() + 5))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]

    assert answer["statusCode"] == 200
    [count] = [line for line in lines if names.REQUESTS in line]
    [directive] = count["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == contract.DEFAULT_METRICS_NAMESPACE
    assert (count["service"], count["outcome"]) == (contract.DEFAULT_SERVICE_NAME, names.OUTCOME_OK)
    assert any(names.LATENCY in line for line in lines)
