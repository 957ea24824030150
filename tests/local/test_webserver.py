"""The web server: generated config.json, the built page, the SPA fallback, a hint when unbuilt."""

from __future__ import annotations

import pytest
import requests

from skinlesion.local.webserver import BUILD_HINT, WebServer

CONFIG = {"mode": "local", "apiUrl": "http://127.0.0.1:1", "region": "us-east-1", "userPoolId": "p",
          "userPoolClientId": "c", "cognitoEndpoint": "http://127.0.0.1:2/"}  # fmt: skip


@pytest.fixture
def serve(tmp_path):
    servers: list[WebServer] = []

    def make(built: bool) -> WebServer:
        dist = tmp_path / "dist"
        (dist / "assets").mkdir(parents=True, exist_ok=True)
        if built:
            (dist / "index.html").write_text("<!doctype html><div id=root></div>")
            (dist / "assets" / "app-1234.js").write_text("console.log(1)")
        servers.append(WebServer(("127.0.0.1", 0), dist=dist, config=CONFIG).start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def test_config_json_is_generated_and_never_cached(serve):
    response = requests.get(f"{serve(True).url}/config.json", timeout=5)
    assert response.json() == CONFIG and response.headers["Cache-Control"] == "no-store"


def test_page_assets_and_app_routes_are_served(serve):
    server = serve(True)
    assert "root" in requests.get(server.url, timeout=5).text
    asset = requests.get(f"{server.url}/assets/app-1234.js", timeout=5)
    assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
    assert "root" in requests.get(f"{server.url}/history", timeout=5).text  # SPA route -> index.html
    assert requests.get(f"{server.url}/missing.js", timeout=5).status_code == 404


def test_unbuilt_page_says_how_to_build_it(serve):
    response = requests.get(serve(False).url, timeout=5)
    assert response.status_code == 503 and BUILD_HINT in response.text
