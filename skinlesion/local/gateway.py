"""The local API Gateway: REST API + Cognito authorizer + Lambda proxy integration on one port.

A WSGI app (`GatewayApp`) on werkzeug's threaded server, which parses the HTTP (chunked
bodies, `Expect: 100-continue`) and drains a refused body so the client reads the answer.
For each request the app does what the deployed API does, in the same order: body over
10 MB -> 413; unknown route -> the stack's MISSING_AUTHENTICATION_TOKEN gateway response
(404 not_found JSON); OPTIONS -> the CORS preflight; with `throttles`, the method's token
bucket (throttle.py) -> 429; the public routes (contract.GATEWAY_ROUTES) answered here, as the
stack's MOCK integrations answer them, never by the handler; token check -> 401 with CORS
and the DESIGN.md body; proxy event over Lambda's 6 MB -> 413
{"message": "Request Too Long"}; then the real handler in-process, with the Lambda timeout;
a crash, timeout or malformed result -> 502. Gateway-made responses carry CORS headers (the
stack sets them on DEFAULT_4XX/5XX).

    gateway = Gateway.create(GatewayConfig(...), port=0).start()   # see docs/local-stack.md
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

from predict_api import openapi
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

import lesion_contract as contract
from skinlesion.local.authorizer import CognitoAuthorizer, Unauthorized, claims_as_api_gateway
from skinlesion.local.events import HttpRequest, MalformedResult, http_response, proxy_event
from skinlesion.local.httpbase import ensure_free
from skinlesion.local.lambda_runtime import HandlerTimeout, LambdaInvoker, load_handler
from skinlesion.local.throttle import MethodThrottles
from stacks.config import ApiSettings

log = logging.getLogger(__name__)

# The API's resources and methods, as contract.ROUTES declares them for the stack too.
ROUTES: dict[str, frozenset[str]] = {}
for _route in contract.ROUTES:
    ROUTES[_route.path] = ROUTES.get(_route.path, frozenset()) | {_route.method}


@dataclass
class GatewayConfig:
    """What one gateway needs: where the model server is, the Lambda env, the authorizer."""

    endpoint_url: str  # the SageMaker runtime API (the model server, or a proxy in front of it)
    endpoint_name: str
    model_metadata_uri: str  # path to model.tar.gz or metadata.json
    allowed_origin: str  # the web page's origin
    authorizer: CognitoAuthorizer
    region: str = "us-east-1"
    stage: str = "prod"
    handler_timeout_s: float = contract.LAMBDA_TIMEOUT_S
    handler: str = "predict_api.app.handler"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Local-only: named probes whose results GET /health adds under "localStack".
    health_probes: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    # The stage's per-method limits (`skinlesion up --throttle`); None: no throttling.
    throttles: ApiSettings | None = None

    def lambda_env(self) -> dict[str, str]:
        return {
            contract.ENV_ENDPOINT_NAME: self.endpoint_name,
            contract.ENV_ENDPOINT_URL: self.endpoint_url,
            contract.ENV_MODEL_METADATA_URI: self.model_metadata_uri,
            contract.ENV_ALLOWED_ORIGIN: self.allowed_origin,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_LAMBDA_FUNCTION_NAME": "skinlesion-local-predict",
            # Metrics on, with the cloud's service and namespace (the contract's defaults): the same
            # EMF lines the Lambda writes in AWS go to the local Lambda log (up.py: .local/lambda.log).
            "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
            **self.extra_env,
        }


class GatewayApp:
    """The WSGI app: API Gateway's behaviour around the real handler (see the module docstring)."""

    def __init__(self, config: GatewayConfig, invoker: LambdaInvoker) -> None:
        self.config, self.invoker = config, invoker
        self.throttles = MethodThrottles(config.throttles) if config.throttles else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.respond(environ)(environ, start_response)

    def respond(self, environ: dict[str, Any]) -> Response:
        try:
            body = _read_body(environ)
        except _BodyTooLarge:
            # Refused unread; the server drains the rest so the client sees the 413, not a reset.
            message = f"HTTP content length exceeded {contract.API_GATEWAY_BODY_LIMIT_BYTES} bytes."
            return self._gateway_reply(413, message.encode(), "text/plain", request_id="-")
        except ValueError:  # a non-numeric Content-Length, or broken chunked framing
            return self._gateway_reply(400, b'{"message": "Bad Request"}', "application/json", request_id="-")
        url = urlsplit(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        headers = environ.get(_RAW_HEADERS) or []
        request = HttpRequest(
            method=environ["REQUEST_METHOD"],
            path=url.path.rstrip("/") or "/",
            query=url.query,
            headers=[(k, v) for k, v in headers if k.lower() != "transfer-encoding"],
            body=body,
            source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
            host=environ.get("HTTP_HOST") or "localhost",
        )
        return self._route(request)

    def _route(self, request: HttpRequest) -> Response:
        methods = ROUTES.get(request.path)
        if methods is None or (request.method not in methods and request.method != "OPTIONS"):
            # What the deployed stack's MISSING_AUTHENTICATION_TOKEN gateway response answers.
            status = contract.GATEWAY_NOT_FOUND_STATUS
            error = {"code": contract.ERROR_CODES[status], "message": contract.GATEWAY_NOT_FOUND_MESSAGE}
            return self._gateway_json(status, {"error": error, "requestId": request.request_id}, request)
        if request.method == "OPTIONS":
            return self._preflight(request)
        if self.throttles is not None and not self.throttles.admit(request.path, request.method):
            error = {"code": contract.ERROR_CODES[429], "message": "Too Many Requests"}
            return self._gateway_json(429, {"error": error, "requestId": request.request_id}, request)
        if request.path in contract.GATEWAY_ROUTES:
            return self._answer(request)
        claims = None
        if request.path not in contract.PUBLIC_ROUTES:
            try:
                claims = claims_as_api_gateway(self.config.authorizer.verify(request.header("Authorization")))
            except Unauthorized as err:
                log.info("401 %s %s: %s", request.method, request.path, err)
                error = {"code": contract.ERROR_CODES[401], "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE}
                return self._gateway_json(401, {"error": error, "requestId": request.request_id}, request)
        event = proxy_event(request, resource=request.path, stage=self.config.stage, claims=claims)
        if len(json.dumps(event)) > contract.LAMBDA_EVENT_LIMIT_BYTES:
            return self._gateway_json(413, {"message": "Request Too Long"}, request)
        return self._integrate(event, request)

    def _integrate(self, event: dict, request: HttpRequest) -> Response:
        try:
            status, headers, body = http_response(self.invoker.invoke(event))
        except (HandlerTimeout, MalformedResult) as err:
            log.warning("502 %s %s: %s", request.method, request.path, err)
            return self._gateway_json(502, {"message": "Internal server error"}, request)
        except Exception:  # an unhandled Lambda error is API Gateway's 502
            log.exception("502 %s %s: the handler raised", request.method, request.path)
            return self._gateway_json(502, {"message": "Internal server error"}, request)
        return _reply(status, headers + [("x-amzn-RequestId", request.request_id)], body)

    def _answer(self, request: HttpRequest) -> Response:
        """A public route, answered as the stack's MOCK integration does (api_protection.py)."""
        document: dict[str, Any]
        if request.path == contract.ROUTE_HEALTH:
            document = {"status": contract.HEALTH_STATUS, "requestId": request.request_id}
            if self.config.health_probes:
                probes = self.config.health_probes.items()
                document["localStack"] = {name: "ok" if _safe(probe) else "down" for name, probe in probes}
        else:
            document = openapi.document()
        headers = self._cors() + [
            ("Access-Control-Expose-Headers", ",".join(contract.CORS_EXPOSE_HEADERS)),
            ("Content-Type", contract.JSON_CONTENT_TYPE),
            (contract.REQUEST_ID_HEADER, request.request_id),
            ("x-amzn-RequestId", request.request_id),
        ]
        return _reply(200, headers, json.dumps(document).encode())

    def _preflight(self, request: HttpRequest) -> Response:
        # API Gateway's default preflight (the stack's CorsOptions): the same answer on every resource.
        headers = self._cors() + [
            ("Access-Control-Allow-Methods", ",".join(contract.CORS_ALLOW_METHODS)),
            ("Access-Control-Allow-Headers", ",".join(contract.CORS_ALLOW_HEADERS)),
            ("Access-Control-Max-Age", str(contract.CORS_MAX_AGE_S)),
            ("x-amzn-RequestId", request.request_id),
        ]
        return _reply(204, headers, b"")

    def _cors(self) -> list[tuple[str, str]]:
        return [("Access-Control-Allow-Origin", self.config.allowed_origin), ("Vary", "Origin")]

    def _gateway_json(self, status: int, payload: dict, request: HttpRequest) -> Response:
        return self._gateway_reply(
            status, json.dumps(payload).encode(), "application/json", request.request_id
        )

    def _gateway_reply(self, status: int, body: bytes, content_type: str, request_id: str) -> Response:
        headers = self._cors() + [
            ("Content-Type", content_type),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", _ERROR_TYPES.get(status, "")),
        ]
        return _reply(status, headers, body)


class _Reply(Response):
    default_mimetype = None  # only the headers the gateway or the handler chose


def _reply(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    kept = [
        (k, v)
        for k, v in headers
        if v and k.lower() not in ("content-length", "connection", "transfer-encoding")
    ]
    return _Reply(body, status=status, headers=kept)


# The request's headers as they arrived (repeats kept): API Gateway's multiValueHeaders need
# them, and a WSGI environ folds repeats into one comma-joined value.
_RAW_HEADERS = "skinlesion.raw_headers"


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, by Content-Length or chunked; _BodyTooLarge past API Gateway's limit."""
    limit = contract.API_GATEWAY_BODY_LIMIT_BYTES
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks, the size is unknown
        try:
            body = stream.read(limit + 1)
        except OSError as err:
            raise ValueError("broken chunked body") from err
        if len(body) > limit:
            raise _BodyTooLarge
        return bytes(body)
    length = int(environ.get("CONTENT_LENGTH") or 0)  # ValueError when not a number
    if length < 0:
        raise ValueError("negative Content-Length")
    if length > limit:
        raise _BodyTooLarge
    return stream.read(length) if length else b""


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, quiet (access lines at debug level) and keeping the raw header list."""

    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[_RAW_HEADERS] = list(self.headers.items())
        return environ

    def log(self, type: str, message: str, *args: Any) -> None:  # werkzeug's signature
        log.debug("%s %s " + message, self.address_string(), type, *args)


class Gateway:
    """The gateway app on a threaded werkzeug server; `create` loads the handler with the config's env."""

    part = "API gateway"

    def __init__(self, address: tuple[str, int], config: GatewayConfig, invoker: LambdaInvoker) -> None:
        host, port = address
        ensure_free(self.part, host, port)  # werkzeug would print and exit instead of raising
        self.config, self.invoker = config, invoker
        self.app = GatewayApp(config, invoker)
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_RequestHandler)
        self._thread: threading.Thread | None = None

    @classmethod
    def create(cls, config: GatewayConfig, *, host: str = "127.0.0.1", port: int = 0) -> Gateway:
        handler = load_handler(config.lambda_env(), config.handler)
        return cls((host, port), config, LambdaInvoker(handler, timeout_s=config.handler_timeout_s))

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.part, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self.invoker.close()


class _BodyTooLarge(Exception):
    """The body is over API Gateway's limit."""


_ERROR_TYPES = {
    401: "UnauthorizedException",
    403: "MissingAuthenticationTokenException",
    404: "MissingAuthenticationTokenException",
    413: "RequestTooLargeException",
    429: "TooManyRequestsException",
    502: "InternalServerErrorException",
}


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:  # a failing probe means that part is down
        return False
