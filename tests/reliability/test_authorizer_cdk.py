"""The deployed API enforces the same sign-in the local gateway does (from the synthesized template).

GIVEN the stack as `cdk synth` builds it
THEN the REST API has one COGNITO_USER_POOLS authorizer bound to the stack's own user pool,
reading the Authorization header; every non-OPTIONS method except /health and /openapi.json
uses it, without OAuth scopes (scopes would make API Gateway demand access tokens, while the
API takes ID tokens: contract.REQUIRED_TOKEN_USE); the deployed routes are the local gateway's;
the pool has exactly one app client (API Gateway accepts an ID token of *any* client of the
pool, so a second client would widen access); and the 401 gateway response is the JSON body
with CORS that the local gateway and the web page expect.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import lesion_contract as contract
from skinlesion.local.gateway import ROUTES as LOCAL_ROUTES

from .test_least_privilege import render


def resource_paths(synthesized) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path (root is "/")."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")

    def path_of(lid: str) -> str:
        props = resources[lid]["Properties"]
        parent = props["ParentId"]
        prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {lid: path_of(lid) for lid in resources}


def methods(synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """(HTTP method, path, properties) of every AWS::ApiGateway::Method."""
    paths = resource_paths(synthesized)
    out = []
    for res in synthesized.of_type("AWS::ApiGateway::Method").values():
        props = res["Properties"]
        target = props["ResourceId"]
        path = paths[target["Ref"]] if isinstance(target, dict) and "Ref" in target else "/"
        out.append((props["HttpMethod"], path, props))
    return out


@pytest.fixture(scope="module")
def authorizer(synthesized) -> tuple[str, dict[str, Any]]:
    found = synthesized.of_type("AWS::ApiGateway::Authorizer")
    assert len(found) == 1, f"one authorizer expected, found {list(found)}"
    ((lid, res),) = found.items()
    return lid, res["Properties"]


def test_authorizer_is_cognito_bound_to_the_stacks_user_pool(synthesized, authorizer) -> None:
    _, props = authorizer
    (pool,) = synthesized.of_type("AWS::Cognito::UserPool")
    assert props["Type"] == "COGNITO_USER_POOLS"
    assert props["ProviderARNs"] == [{"Fn::GetAtt": [pool, "Arn"]}]
    assert props["IdentitySource"] == "method.request.header.Authorization"


def test_every_non_options_method_but_the_public_ones_uses_it(synthesized, authorizer) -> None:
    lid, _ = authorizer
    checked = []
    for verb, path, props in methods(synthesized):
        assert verb != "ANY", f"an ANY method on {path} would route unknown verbs past the checks"
        if verb == "OPTIONS" or path in contract.PUBLIC_ROUTES:
            assert props["AuthorizationType"] == "NONE", (verb, path)
            continue
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", (verb, path)
        assert props["AuthorizerId"] == {"Ref": lid}, (verb, path)
        assert not props.get("AuthorizationScopes"), f"{verb} {path}: scopes would require access tokens"
        checked.append((verb, path))
    assert (("POST", contract.ROUTE_PREDICT)) in checked and ("GET", contract.ROUTE_MODEL) in checked


def test_deployed_routes_are_the_local_gateways(synthesized) -> None:
    deployed = {(verb, path) for verb, path, _ in methods(synthesized) if verb != "OPTIONS"}
    local = {(verb, path) for path, verbs in LOCAL_ROUTES.items() for verb in verbs}
    assert deployed == local


def test_user_pool_has_one_public_client_for_the_api(synthesized) -> None:
    clients = list(synthesized.of_type("AWS::Cognito::UserPoolClient").values())
    assert len(clients) == 1, "a second app client's ID tokens would also pass the API's authorizer"
    props = clients[0]["Properties"]
    assert props.get("GenerateSecret") in (None, False), "the web page and the CLI cannot keep a secret"
    # SRP only (the password never leaves the client); refresh via rotation (issue 19).
    assert props["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH"]
    assert props["RefreshTokenRotation"]["Feature"] == "ENABLED"


def test_app_client_does_not_allow_the_implicit_grant(synthesized) -> None:
    # The implicit grant returns tokens in the URL fragment (browser history, Referer); the OAuth
    # 2.0 Security BCP says not to use it. Sign-in here is SRP only.
    (client,) = synthesized.of_type("AWS::Cognito::UserPoolClient").values()
    assert "implicit" not in client["Properties"].get("AllowedOAuthFlows", [])


def test_unauthorized_gateway_response_is_the_json_body_with_cors(synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    unauthorized = responses["UNAUTHORIZED"]
    template = unauthorized["ResponseTemplates"]["application/json"].replace("$context.requestId", "id")
    assert json.loads(template) == {
        "error": {"code": contract.ERROR_CODES[401], "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE},
        "requestId": "id",
    }
    for kind in ("UNAUTHORIZED", "DEFAULT_4XX", "DEFAULT_5XX"):
        origin = responses[kind]["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
        assert render(origin).startswith("'https://"), f"{kind}: CORS origin must be the site, not '*'"
