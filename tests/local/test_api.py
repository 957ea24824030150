"""The local API over real HTTP: the authorizer refuses what Cognito's would, the handler answers.

Forged tokens are signed with moto's own pool key (shipped inside moto) so that only the
claim under test is wrong: an expired token, another client id, an access token, another
issuer. A token signed by a fresh key and an `alg: none` token test the signature check.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import time
from pathlib import Path

import jwt
import moto
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image

import lesion_contract as contract

pytestmark = pytest.mark.e2e
UNAUTHORIZED = {"code": "unauthorized", "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE}


SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ISIC_0024398_nevus.jpg"


def jpeg(size: int = 224) -> bytes:
    """A lesion photo (tests/data) when present: the shipped guard refuses plain gradients."""
    buffer = io.BytesIO()
    image = Image.open(SAMPLE) if SAMPLE.is_file() else Image.radial_gradient("L")
    image.resize((size, size)).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def post_predict(
    stack: dict, authorization: str | None, body: bytes | None = None, **kw
) -> requests.Response:
    headers = {"Content-Type": "image/jpeg", "Origin": stack["webUrl"]}  # as the web page sends it
    if authorization:
        headers["Authorization"] = authorization
    return requests.post(
        f"{stack['apiUrl']}/predict", data=jpeg() if body is None else body, headers=headers, timeout=60, **kw
    )


@pytest.fixture(scope="module")
def moto_key():
    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK.from_dict(json.loads(gzip.decompress(path.read_bytes()))).key


def forged(claims: dict, key, **changes) -> str:
    return jwt.encode({**claims, **changes}, key, algorithm="RS256", headers={"kid": "dummy"})


@pytest.fixture(scope="module")
def claims(id_token: str) -> dict:
    return jwt.decode(id_token, options={"verify_signature": False})


def test_signed_in_user_gets_the_design_body(local_stack, id_token):
    response = post_predict(local_stack, f"Bearer {id_token}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"label", "probabilities", "confidence", "threshold", "model", "requestId"}
    p = body["probabilities"]
    assert set(p) == {"benign", "malignant"} and p["benign"] + p["malignant"] == pytest.approx(1, abs=1e-5)
    assert body["label"] == ("malignant" if p["malignant"] >= body["threshold"] else "benign")
    # The probability of the returned label (DESIGN.md), which at a threshold below 0.5 can be the
    # smaller of the two.
    assert body["confidence"] == pytest.approx(p[body["label"]], abs=1e-5)
    assert body["model"]["version"] == local_stack["modelVersion"]
    assert response.headers["Access-Control-Allow-Origin"] == local_stack["webUrl"]


def test_raw_token_without_bearer_is_accepted_like_api_gateway(local_stack, id_token):
    assert post_predict(local_stack, id_token).status_code == 200


def test_json_body_with_base64_image_is_accepted(local_stack, id_token):
    response = requests.post(
        f"{local_stack['apiUrl']}/predict",
        json={"image": base64.b64encode(jpeg()).decode()},
        headers={"Authorization": f"Bearer {id_token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "case",
    ["none", "garbage", "expired", "other_key", "other_client", "other_issuer", "access_token", "alg_none"],
)
def test_bad_tokens_get_401_with_cors_and_the_gateway_body(
    local_stack, claims, moto_key, cognito_sign_in, case
):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "none": None,
        "garbage": "Bearer not.a.jwt",
        "expired": forged(claims, moto_key, exp=int(time.time()) - 60, iat=int(time.time()) - 3660),
        "other_key": forged(claims, other_key),
        "other_client": forged(claims, moto_key, aud="some-other-client"),
        "other_issuer": forged(
            claims, moto_key, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"
        ),
        "access_token": cognito_sign_in(local_stack)["AccessToken"],
        "alg_none": jwt.encode(claims, None, algorithm="none"),
    }
    token = tokens[case]
    if token is not None and not token.startswith("Bearer"):
        token = f"Bearer {token}"
    response = post_predict(local_stack, token)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == UNAUTHORIZED and body["requestId"]
    assert response.headers["Access-Control-Allow-Origin"] == local_stack["webUrl"]


def test_model_route_describes_the_served_model(local_stack, id_token):
    response = requests.get(f"{local_stack['apiUrl']}/model", headers={"Authorization": id_token}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == local_stack["modelVersion"]
    assert requests.get(f"{local_stack['apiUrl']}/model", timeout=10).status_code == 401


@pytest.mark.parametrize("route", [contract.ROUTE_HEALTH, contract.ROUTE_OPENAPI])
def test_public_routes_need_no_token(local_stack, route):
    response = requests.get(f"{local_stack['apiUrl']}{route}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()


def test_health_reports_each_local_part(local_stack):
    parts = requests.get(f"{local_stack['apiUrl']}/health", timeout=10).json()["localStack"]
    assert parts == {"modelServer": "ok", "cognito": "ok", "web": parts["web"], "gateway": "ok"}


def test_preflight_is_answered_without_a_token(local_stack):
    response = requests.options(
        f"{local_stack['apiUrl']}/predict",
        headers={"Origin": local_stack["webUrl"], "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == local_stack["webUrl"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_unknown_route_gets_the_stacks_not_found_gateway_response(local_stack, id_token):
    response = requests.get(f"{local_stack['apiUrl']}/nope", headers={"Authorization": id_token}, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": contract.GATEWAY_NOT_FOUND_MESSAGE}
    assert response.json()["requestId"] == response.headers["x-amzn-RequestId"]


def test_event_over_lambda_limit_is_413_before_the_handler(local_stack, id_token):
    # 4.8 MB raw -> 6.4 MB base64 in the event: over Lambda's 6 MiB, under API Gateway's 10 MiB.
    response = post_predict(local_stack, id_token, body=b"\xff\xd8" + b"\0" * 4_800_000)
    assert (response.status_code, response.json()) == (413, {"message": "Request Too Long"})


def test_body_over_api_gateway_limit_is_413(local_stack, id_token):
    response = post_predict(local_stack, id_token, body=b"\0" * (contract.API_GATEWAY_BODY_LIMIT_BYTES + 1))
    assert response.status_code == 413
