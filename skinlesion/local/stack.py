"""Starts and stops the local stack's parts in order, and proves it can answer a prediction.

Order: check every port first (a busy one fails before anything starts), start the model
server process (slowest: TensorFlow), then moto Cognito with the pool and demo user, the
gateway with the real handler, the web server; wait for the model; sign in as the demo
user and POST a generated JPEG through the gateway. Only then is the stack ready.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from lesion_contract import artifact as model_artifact
from skinlesion import REPO_ROOT
from skinlesion.local.authorizer import CognitoAuthorizer
from skinlesion.local.gateway import Gateway, GatewayConfig
from skinlesion.local.httpbase import ensure_free
from skinlesion.local.idp import CognitoServer, UserPool, create_user_pool, sign_in
from skinlesion.local.model_server import DEFAULT_ENDPOINT_NAME, DEFAULT_MODEL
from skinlesion.local.webserver import DEFAULT_DIST, WebServer
from stacks.config import ApiSettings

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """The stack could not start; the message says which part and why."""


@dataclass
class StackSettings:
    """Everything `skinlesion up` can change (defaults: docs/local-stack.md)."""

    model: Path = DEFAULT_MODEL
    host: str = "127.0.0.1"
    web_port: int = 8080
    api_port: int = 8081
    model_port: int = 8082
    cognito_port: int = 8083
    region: str = "us-east-1"
    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    dist: Path = DEFAULT_DIST
    ready_timeout_s: float = 180.0
    batching: bool = True  # TF Serving-style request batching in the model server (see batching.py)
    # The deployed stage's per-method throttles in the gateway (`--throttle`); off by default so
    # local load tests and benchmarks measure the model, not the limits.
    throttle: bool = False
    log_dir: Path = REPO_ROOT / ".local"  # model-server.log (and lambda.log, see up.py) go here


def model_metadata(artifact: Path) -> dict[str, Any]:
    """metadata.json from a model.tar.gz, without unpacking the rest ({} when it has none)."""
    try:
        with open(artifact, "rb") as stream:
            return model_artifact.read_metadata(stream)
    except model_artifact.NoMetadata:
        return {}
    except (OSError, tarfile.TarError, ValueError) as err:
        raise StackError(f"cannot read the model artifact {artifact}: {err}") from err


def probe_image() -> bytes:
    """The readiness prediction's image: the packaged dermoscopic lesion photo (skinlesion/data,
    the smoke test's), since the model's not-a-lesion guard refuses a drawn blob."""
    from skinlesion.smoke import lesion_image

    return lesion_image()


class LocalStack:
    """The running parts; `start()` returns when a signed-in prediction has succeeded."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.model_process: subprocess.Popen[bytes] | None = None
        self.cognito: CognitoServer | None = None
        self.pool: UserPool | None = None
        self.gateway: Gateway | None = None
        self.web: WebServer | None = None
        self.metadata: dict[str, Any] = {}

    def url(self, port: int) -> str:
        return f"http://{self.settings.host}:{port}"

    def start(self) -> None:
        s = self.settings
        if not Path(s.model).is_file():
            raise StackError(f"model artifact not found: {s.model} (pass --model PATH)")
        for part, port in (
            ("web server", s.web_port),
            ("API gateway", s.api_port),
            ("model server", s.model_port),
            ("sign-in (Cognito)", s.cognito_port),
        ):
            ensure_free(part, s.host, port)
        self.metadata = model_metadata(Path(s.model))
        clock = _Clock()
        self._start_model_server()
        self.cognito = CognitoServer(s.host, s.cognito_port, allowed_origins=[self.url(s.web_port)]).start()
        self.pool = create_user_pool(self.cognito.url, region=s.region)
        clock.lap("sign-in up, pool and demo user made")
        self.gateway = Gateway.create(self._gateway_config(self.pool), host=s.host, port=s.api_port).start()
        self.web = WebServer((s.host, s.web_port), dist=s.dist, config=self.web_config()).start()
        clock.lap("gateway (handler imported) and web server up")
        self._wait_for_model()
        clock.lap("model server loaded the model")
        self._first_prediction()
        clock.lap("first signed-in prediction answered")

    def _start_model_server(self) -> None:
        s = self.settings
        command = [
            sys.executable,
            "-m",
            "skinlesion.local.model_server",
            "--model",
            str(s.model),
            "--host",
            s.host,
            "--port",
            str(s.model_port),
            "--endpoint-name",
            s.endpoint_name,
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        # The container's batching switch: `--no-batching` turns it off; otherwise an explicit
        # SAGEMAKER_TFS_ENABLE_BATCHING in the environment wins over the default (on).
        batching = os.environ.get("SAGEMAKER_TFS_ENABLE_BATCHING", "true") if s.batching else "false"
        env["SAGEMAKER_TFS_ENABLE_BATCHING"] = batching
        s.log_dir.mkdir(parents=True, exist_ok=True)
        # TensorFlow's start-up chatter goes to the log file, not the person's console.
        with open(self.model_log, "wb") as log_file:
            self.model_process = subprocess.Popen(  # preexec_fn only calls prctl
                command, env=env, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )

    @property
    def model_log(self) -> Path:
        return self.settings.log_dir / "model-server.log"

    def _gateway_config(self, pool: UserPool) -> GatewayConfig:
        s = self.settings
        authorizer = CognitoAuthorizer(jwks_url=pool.jwks_url, issuer=pool.issuer, client_id=pool.client_id)
        return GatewayConfig(
            endpoint_url=self.url(s.model_port),
            endpoint_name=s.endpoint_name,
            model_metadata_uri=str(Path(s.model).resolve()),
            allowed_origin=self.url(s.web_port),
            authorizer=authorizer,
            region=s.region,
            throttles=ApiSettings() if s.throttle else None,
            health_probes={
                "modelServer": lambda: _http_ok(f"{self.url(s.model_port)}/ping"),
                "cognito": lambda: _http_ok(pool.jwks_url),
                "web": lambda: self.web is not None and self.web.built,
                "gateway": lambda: True,
            },
        )

    def web_config(self) -> dict[str, Any]:
        assert self.pool is not None
        return {
            "mode": "local",
            "apiUrl": self.url(self.settings.api_port),
            "region": self.settings.region,
            "userPoolId": self.pool.pool_id,
            "userPoolClientId": self.pool.client_id,
            "cognitoEndpoint": self.pool.endpoint + "/",
        }

    def _wait_for_model(self) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        ping = f"{self.url(self.settings.model_port)}/ping"
        while time.monotonic() < deadline:
            assert self.model_process is not None
            if self.model_process.poll() is not None:
                raise StackError(
                    f"the model server exited (code {self.model_process.returncode}); see its message above"
                )
            if _http_ok(ping):
                return
            time.sleep(0.2)
        raise StackError(
            f"the model server did not load {self.settings.model} in {self.settings.ready_timeout_s:.0f} s"
        )

    def _first_prediction(self) -> None:
        assert self.pool is not None
        token = sign_in(self.pool.endpoint, self.pool.client_id, self.pool.username, self.pool.password)[
            "IdToken"
        ]
        response = requests.post(
            f"{self.url(self.settings.api_port)}/predict",
            data=probe_image(),
            headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}"},
            timeout=60,
        )
        if response.status_code != 200:
            raise StackError(f"the first prediction failed: {response.status_code} {response.text[:500]}")

    def state(self) -> dict[str, Any]:
        """The contents of .local/stack.json (DESIGN.md keys, plus pid and the model server URL)."""
        assert self.pool is not None
        return {
            "webUrl": self.url(self.settings.web_port),
            "apiUrl": self.url(self.settings.api_port),
            "region": self.settings.region,
            "userPoolId": self.pool.pool_id,
            "userPoolClientId": self.pool.client_id,
            "cognitoEndpoint": self.pool.endpoint + "/",
            "username": self.pool.username,
            "password": self.pool.password,
            "endpointName": self.settings.endpoint_name,
            "modelVersion": self.metadata.get("version", "unknown"),
            "modelServerUrl": self.url(self.settings.model_port),
            "pid": os.getpid(),
        }

    def stop(self) -> None:
        """Stop every part that started; safe to call more than once."""
        process, self.model_process = self.model_process, None
        if process is not None and process.poll() is None:
            process.terminate()  # first: it winds down while the in-process servers stop
        for server in (self.web, self.gateway, self.cognito):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # keep stopping the others
                    log.exception("while stopping %s", server)
        self.web = self.gateway = self.cognito = None
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _Clock:
    """Start-up timings for `skinlesion up -v`."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def lap(self, what: str) -> None:
        log.debug("%5.1f s  %s", time.monotonic() - self.start, what)


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _die_with_parent() -> None:
    """Runs in the child: ask Linux to SIGTERM it if `skinlesion up` dies without cleaning up."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


STATE_FILE = REPO_ROOT / ".local" / "stack.json"
