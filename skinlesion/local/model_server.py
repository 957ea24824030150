"""Local SageMaker endpoint: the container contract and the SageMaker runtime API on one port.

    python -m skinlesion.local.model_server [--model models/default/model.tar.gz] [--port 8082]

Routes:
- `GET /ping`, `POST /invocations`: the inference container's contract.
- `POST /endpoints/{name}/invocations`: the SageMaker runtime `InvokeEndpoint` API, so a
  boto3 `sagemaker-runtime` client works unchanged with `endpoint_url` set. Errors come in
  the service's shape (`x-amzn-errortype` + JSON), so boto3 raises the same exceptions:
  an unknown endpoint is `ValidationError`, a container non-2xx is `ModelError` (424).
- `POST /v1/models/{name}:predict`: TF Serving's REST predict (the handlers' `rest_uri`).

The model is loaded once; `/ping` answers 503 until it is, then 200.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import lesion_contract as contract
from skinlesion import REPO_ROOT
from skinlesion.local.httpbase import LocalHTTPServer, PortInUse, drain
from skinlesion.local.model_runtime import Reply, ServedModel

log = logging.getLogger(__name__)

DEFAULT_MODEL = REPO_ROOT / "models" / "default" / "model.tar.gz"
DEFAULT_ENDPOINT_NAME = "skinlesion-local"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account; only appears in error messages
_RUNTIME_ROUTE = re.compile(r"^/endpoints/([^/]+)/invocations$")
_TFS_ROUTE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/\d+)?:predict$")


class ModelHTTPServer(LocalHTTPServer):
    """Threaded HTTP server holding the model; `model` is None until loading finishes."""

    part = "model server"

    def __init__(self, address: tuple[str, int], *, endpoint_name: str = DEFAULT_ENDPOINT_NAME) -> None:
        super().__init__(address, _Handler)
        self.endpoint_name = endpoint_name
        self.model: ServedModel | None = None
        self.load_error: str | None = None

    def load(self, artifact: Path) -> None:
        """Load the artifact (blocking); /ping turns 200 when this returns."""
        try:
            self.model = ServedModel(artifact, rest_uri=f"{self.url}/v1/models/model:predict")
        except Exception as err:
            self.load_error = str(err)
            raise


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 and the gateway reuse connections
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: ModelHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, reply: Reply, headers: dict[str, str] | None = None) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        if self.path == "/ping":
            ready = self.server.model is not None
            self._send(Reply(200 if ready else 503, b"" if ready else b'{"status": "loading"}'))
        else:
            self._send(Reply(404, b'{"error": "not found"}'))

    def do_POST(self) -> None:
        runtime = _RUNTIME_ROUTE.match(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if runtime and length > contract.ENDPOINT_BODY_LIMIT_BYTES:
            # InvokeEndpoint's payload limit, refused as the service does; the body is only drained.
            self.close_connection = not drain(self.rfile, length)
            message = f"HTTP content length exceeded {contract.ENDPOINT_BODY_LIMIT_BYTES} bytes."
            self._send(Reply(413, json.dumps({"message": message}).encode()))
            return
        body = self._body()
        model = self.server.model
        if runtime:
            self._runtime_invoke(runtime.group(1), body)
        elif model is None:
            self._send(Reply(503, b'{"error": "model is loading"}'))
        elif self.path == "/invocations":
            self._send(self._invoke(model, body))
        elif _TFS_ROUTE.match(self.path):
            self._send(model.tfs_predict(body))
        else:
            self._send(Reply(404, b'{"error": "not found"}'))

    def _invoke(self, model: ServedModel, body: bytes) -> Reply:
        return model.invoke(
            body,
            content_type=self.headers.get("Content-Type"),
            accept=self.headers.get("Accept"),
            custom_attributes=self.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
        )

    def _runtime_invoke(self, name: str, body: bytes) -> None:
        request_id = str(uuid.uuid4())
        model = self.server.model
        if name != self.server.endpoint_name:
            self._runtime_error(
                400,
                "ValidationError",
                f"Endpoint {name} of account {LOCAL_ACCOUNT_ID} not found.",
                request_id,
            )
            return
        if model is None:
            message = f"Endpoint {name} of account {LOCAL_ACCOUNT_ID} is not in service."
            self._runtime_error(400, "ValidationError", message, request_id)
            return
        reply = self._invoke(model, body)
        if 200 <= reply.status < 300:
            self._send(
                reply, {"x-amzn-requestid": request_id, "x-Amzn-Invoked-Production-Variant": "AllTraffic"}
            )
            return
        self._model_error(name, reply, request_id)

    def _model_error(self, name: str, reply: Reply, request_id: str) -> None:
        """A container non-2xx as SageMaker reports it: 424 ModelError with the original status."""
        kind = "client" if reply.status < 500 else "server"
        original = reply.body.decode("utf-8", "replace")
        log_stream = f"arn:aws:logs:local:{LOCAL_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}"
        payload = {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "LogStreamArn": log_stream,
            "Message": f'Received {kind} error ({reply.status}) from primary with message "{original}". '
            f"See {log_stream} in account {LOCAL_ACCOUNT_ID} for more information.",
            "OriginalMessage": original,
            "OriginalStatusCode": reply.status,
        }
        self._send(
            Reply(424, json.dumps(payload).encode("utf-8")),
            {"x-amzn-errortype": "ModelError", "x-amzn-requestid": request_id},
        )

    def _runtime_error(self, status: int, error_type: str, message: str, request_id: str) -> None:
        payload = json.dumps({"__type": error_type, "message": message}).encode("utf-8")
        self._send(Reply(status, payload), {"x-amzn-errortype": error_type, "x-amzn-requestid": request_id})


def start_model_server(
    artifact: Path, *, host: str = "127.0.0.1", port: int = 0, endpoint_name: str = DEFAULT_ENDPOINT_NAME
) -> ModelHTTPServer:
    """Bind (PortInUse on a busy port), serve in a thread, then load the model (blocking)."""
    server = ModelHTTPServer((host, port), endpoint_name=endpoint_name).start()
    try:
        server.load(artifact)
    except Exception:
        server.stop()
        raise
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m skinlesion.local.model_server", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="model.tar.gz to serve (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT_NAME)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="model-server: %(message)s")
    # SIGTERM (from `skinlesion up` or a shell) unwinds like Ctrl-C, so the unpacked model is removed.
    signal.signal(signal.SIGTERM, lambda *_: _raise_interrupt())
    try:
        server = start_model_server(
            args.model, host=args.host, port=args.port, endpoint_name=args.endpoint_name
        )
    except PortInUse as err:
        log.error("%s", err)
        return 2
    except Exception as err:  # reported to the person, exit non-zero
        log.error("cannot load %s: %s", args.model, err)
        return 1
    assert server.model is not None
    log.info(
        "ready: %s (endpoint %s, model %s)",
        server.url,
        args.endpoint_name,
        server.model.metadata.get("version", "?"),
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        server.model.close()
    logging.shutdown()
    # Everything this process owns is closed; TensorFlow's interpreter teardown would add seconds
    # to every Ctrl-C, so leave now.
    os._exit(0)


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
