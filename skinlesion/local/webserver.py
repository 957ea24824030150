"""Serves the built web page (web/dist) with a local `config.json`, as S3 + CloudFront do.

`config.json` is generated, not read from disk, so one web build serves AWS and the local
stack. Paths that are not files fall back to index.html (the SPA's routes), as the
CloudFront distribution's error responses do. Without a build, every page explains how to
make one.
"""

from __future__ import annotations

import json
import posixpath
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from skinlesion import REPO_ROOT
from skinlesion.local.httpbase import LocalHTTPServer

DEFAULT_DIST = REPO_ROOT / "web" / "dist"
BUILD_HINT = (
    "The web page is not built: run `make up` (it builds it), or `cd web && npm ci && npm run build`."
)


class WebServer(LocalHTTPServer):
    """Static files from `dist` plus the generated config.json."""

    part = "web server"

    def __init__(
        self, address: tuple[str, int], *, dist: Path = DEFAULT_DIST, config: dict[str, Any]
    ) -> None:
        self.dist = Path(dist)
        self.config_json = json.dumps(config, indent=2).encode()
        super().__init__(address, partial(_Handler, directory=str(self.dist)))

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: WebServer

    def log_message(self, format: str, *args: object) -> None:  # stdlib signature
        pass  # the browser's dozens of asset requests would drown the stack's console

    def end_headers(self) -> None:
        # index.html and config.json must never be cached across restarts (new ports, new pool);
        # hashed assets under /assets can be.
        cacheable = self.path.startswith("/assets/")
        self.send_header("Cache-Control", "public, max-age=31536000, immutable" if cacheable else "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/config.json":
            self._send(200, self.server.config_json, "application/json")
        elif not self.server.built:
            self._send(
                503, f"<!doctype html><title>Not built</title><p>{BUILD_HINT}</p>".encode(), "text/html"
            )
        elif (
            not (self.server.dist / posixpath.normpath(path).lstrip("/")).is_file()
            and "." not in path.rsplit("/", 1)[-1]
        ):
            self.path = "/index.html"  # an app route: let the single-page app handle it
            super().do_GET()
        else:
            super().do_GET()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
