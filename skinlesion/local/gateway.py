"""The local API Gateway: REST API + Cognito authorizer + Lambda proxy integration on one port.

For each request it does what the deployed API does, in the same order: unknown route ->
the stack's MISSING_AUTHENTICATION_TOKEN gateway response (404 not_found JSON); OPTIONS ->
the CORS preflight; body over 10 MB -> 413; token check (skipped for /health and
/openapi.json) -> 401 with CORS and the DESIGN.md body;
proxy event over Lambda's 6 MB -> 413 {"message": "Request Too Long"}; then the real
handler in-process, with the Lambda timeout; a crash, timeout or malformed result -> 502.
Gateway-made responses carry CORS headers (the stack sets them on DEFAULT_4XX/5XX).

    gateway = Gateway.create(GatewayConfig(...), port=0).start()   # see docs/local-stack.md
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import lesion_contract as contract
from skinlesion.local.authorizer import CognitoAuthorizer, Unauthorized, claims_as_api_gateway
from skinlesion.local.events import HttpRequest, MalformedResult, http_response, proxy_event
from skinlesion.local.httpbase import LocalHTTPServer, drain
from skinlesion.local.lambda_runtime import HandlerTimeout, LambdaInvoker, load_handler

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


class Gateway(LocalHTTPServer):
    """The HTTP server; `create` loads the handler with the config's environment."""

    part = "API gateway"

    def __init__(self, address: tuple[str, int], config: GatewayConfig, invoker: LambdaInvoker) -> None:
        super().__init__(address, _Handler)
        self.config, self.invoker = config, invoker

    @classmethod
    def create(cls, config: GatewayConfig, *, host: str = "127.0.0.1", port: int = 0) -> Gateway:
        handler = load_handler(config.lambda_env(), config.handler)
        return cls((host, port), config, LambdaInvoker(handler, timeout_s=config.handler_timeout_s))

    def stop(self) -> None:
        super().stop()
        self.invoker.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: Gateway

    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    # Every method API Gateway accepts reaches the same routing (unknown ones get its 404 below).
    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    def _handle(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except _BodyTooLarge as too_large:
            # Refused unread; drained (or the connection closed) so the client sees the 413.
            self.close_connection = not drain(self.rfile, too_large.unread)
            message = f"HTTP content length exceeded {contract.API_GATEWAY_BODY_LIMIT_BYTES} bytes."
            self._gateway_reply(413, message.encode(), "text/plain", request_id="-")
            return
        except ValueError:
            self.close_connection = True
            self._gateway_reply(400, b'{"message": "Bad Request"}', "application/json", request_id="-")
            return
        request = HttpRequest(
            method=self.command,
            path=url.path.rstrip("/") or "/",
            query=url.query,
            headers=[(k, v) for k, v in self.headers.items() if k.lower() != "transfer-encoding"],
            body=body,
            source_ip=self.client_address[0],
            host=self.headers.get("Host") or "localhost",
        )
        self._route(request)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; _BodyTooLarge past API Gateway's limit."""
        limit = contract.API_GATEWAY_BODY_LIMIT_BYTES
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, size = [], 0
            while chunk_size := int(self.rfile.readline(66).split(b";")[0].strip() or b"0", 16):
                size += chunk_size
                if size > limit:
                    raise _BodyTooLarge(1 << 62)  # chunked: the rest is of unknown size
                chunks.append(self.rfile.read(chunk_size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline(8192).strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _BodyTooLarge(length)
        return self.rfile.read(length) if length else b""

    def _route(self, request: HttpRequest) -> None:
        methods = ROUTES.get(request.path)
        if methods is None or (request.method not in methods and request.method != "OPTIONS"):
            # What the deployed stack's MISSING_AUTHENTICATION_TOKEN gateway response answers.
            status = contract.GATEWAY_NOT_FOUND_STATUS
            body = {
                "error": {
                    "code": contract.ERROR_CODES[status],
                    "message": contract.GATEWAY_NOT_FOUND_MESSAGE,
                },
                "requestId": request.request_id,
            }
            self._gateway_json(status, body, request)
            return
        if request.method == "OPTIONS":
            self._preflight(request)
            return
        claims = None
        if request.path not in contract.PUBLIC_ROUTES:
            try:
                claims = claims_as_api_gateway(
                    self.server.config.authorizer.verify(request.header("Authorization"))
                )
            except Unauthorized as err:
                log.info("401 %s %s: %s", request.method, request.path, err)
                body = {
                    "error": {
                        "code": contract.ERROR_CODES[401],
                        "message": contract.GATEWAY_UNAUTHORIZED_MESSAGE,
                    },
                    "requestId": request.request_id,
                }
                self._gateway_json(401, body, request)
                return
        event = proxy_event(request, resource=request.path, stage=self.server.config.stage, claims=claims)
        if len(json.dumps(event)) > contract.LAMBDA_EVENT_LIMIT_BYTES:
            self._gateway_json(413, {"message": "Request Too Long"}, request)
            return
        self._integrate(event, request)

    def _integrate(self, event: dict, request: HttpRequest) -> None:
        try:
            status, headers, body = http_response(self.server.invoker.invoke(event))
        except (HandlerTimeout, MalformedResult) as err:
            log.warning("502 %s %s: %s", request.method, request.path, err)
            self._gateway_json(502, {"message": "Internal server error"}, request)
            return
        except Exception:  # an unhandled Lambda error is API Gateway's 502
            log.exception("502 %s %s: the handler raised", request.method, request.path)
            self._gateway_json(502, {"message": "Internal server error"}, request)
            return
        if request.path == contract.ROUTE_HEALTH and self.server.config.health_probes:
            body = self._with_local_health(body)
        self._send(status, headers + [("x-amzn-RequestId", request.request_id)], body)

    def _with_local_health(self, body: bytes) -> bytes:
        try:
            document = json.loads(body)
        except ValueError:
            return body
        if isinstance(document, dict):
            probes = self.server.config.health_probes.items()
            document["localStack"] = {name: "ok" if _safe(probe) else "down" for name, probe in probes}
        return json.dumps(document).encode()

    def _preflight(self, request: HttpRequest) -> None:
        # API Gateway's default preflight (the stack's CorsOptions): the same answer on every resource.
        headers = self._cors() + [
            ("Access-Control-Allow-Methods", ",".join(contract.CORS_ALLOW_METHODS)),
            ("Access-Control-Allow-Headers", ",".join(contract.CORS_ALLOW_HEADERS)),
            ("Access-Control-Max-Age", str(contract.CORS_MAX_AGE_S)),
            ("x-amzn-RequestId", request.request_id),
        ]
        self._send(204, headers, b"")

    def _cors(self) -> list[tuple[str, str]]:
        return [("Access-Control-Allow-Origin", self.server.config.allowed_origin), ("Vary", "Origin")]

    def _gateway_json(self, status: int, payload: dict, request: HttpRequest) -> None:
        self._gateway_reply(status, json.dumps(payload).encode(), "application/json", request.request_id)

    def _gateway_reply(self, status: int, body: bytes, content_type: str, request_id: str) -> None:
        headers = self._cors() + [
            ("Content-Type", content_type),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", _ERROR_TYPES.get(status, "")),
        ]
        self._send(status, headers, body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding") and value:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _BodyTooLarge(Exception):
    def __init__(self, unread: int) -> None:
        super().__init__(unread)
        self.unread = unread  # bytes still on the wire (a huge value: do not drain, close)


_ERROR_TYPES = {
    401: "UnauthorizedException",
    403: "MissingAuthenticationTokenException",
    404: "MissingAuthenticationTokenException",
    413: "RequestTooLargeException",
    502: "InternalServerErrorException",
}


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:  # a failing probe means that part is down
        return False
