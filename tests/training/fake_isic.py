"""A local stand-in for the ISIC Archive API v2, served over HTTP on loopback.

It answers `GET /api/v2/images/search/?query=…&limit=…[&cursor=…]` with pages shaped
like the real API's (count / next / previous / results, each result with isic_id,
copyright_license, attribution, files.full.url, files.thumbnail_256.url and
metadata.clinical.diagnosis_1…), following isic-cli's reading of it, and serves the
image files the results point to. Images are real dermoscopic JPEGs from
../shared/data/isic-dev when present, else generated JPEGs.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image, ImageDraw

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic-dev"
DIAGNOSIS = {"benign": ("Benign", "Nevus"), "malignant": ("Malignant", "Melanoma, NOS")}
LICENSES = ("CC-0", "CC-BY", "CC-BY-NC")


def _generated_jpeg(seed: int, size: int = 300) -> bytes:
    image = Image.new("RGB", (size, int(size * 0.75)), (200 - seed * 7 % 60, 150, 130))
    draw = ImageDraw.Draw(image)
    draw.ellipse((60 + seed % 30, 40, 220, 190), fill=(90 + seed * 13 % 80, 50, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def sample_images(label: str, count: int) -> list[bytes]:
    """`count` JPEGs of `label`: real ones from ../shared when available."""
    folder = SHARED_DATA / label
    real = sorted(folder.glob("*.jpg"))[:count] if folder.is_dir() else []
    images = [path.read_bytes() for path in real]
    return images + [
        _generated_jpeg(len(images) + i + (0 if label == "benign" else 50))
        for i in range(count - len(images))
    ]


class FakeArchive:
    """Holds the images per class and the request log; `url` is the API base."""

    def __init__(
        self, counts: dict[str, int], *, corrupt: set[str] = frozenset(), mislabelled: set[str] = frozenset()
    ):
        self.results: dict[str, list[dict]] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.hits: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.base}/api/v2/"
        number = 1
        for label, count in counts.items():
            self.results[label] = []
            for image in sample_images(label, count):
                isic_id = f"ISIC_{number:07d}"
                number += 1
                self.files[isic_id] = b"not a jpeg" if isic_id in corrupt else image
                diagnosis = DIAGNOSIS[
                    "benign" if (label == "benign") != (isic_id in mislabelled) else "malignant"
                ]
                self.results[label].append(self._result(isic_id, diagnosis, number))

    def _result(self, isic_id: str, diagnosis: tuple[str, str], number: int) -> dict:
        return {
            "isic_id": isic_id,
            "public": True,
            "copyright_license": LICENSES[number % len(LICENSES)],
            "attribution": f"Test Clinic {number % 2}",
            "files": {
                "full": {"url": f"{self.base}/files/full/{isic_id}.JPG", "size": 50_000},
                "thumbnail_256": {"url": f"{self.base}/files/thumb/{isic_id}.jpg", "size": 9_000},
            },
            "metadata": {
                "acquisition": {"image_type": "dermoscopic", "pixels_x": 300, "pixels_y": 225},
                "clinical": {"diagnosis_1": diagnosis[0], "diagnosis_3": diagnosis[1], "age_approx": 50},
            },
        }

    def _page(self, query: str, limit: int, cursor: int) -> dict:
        label = "malignant" if 'diagnosis_1:"Malignant"' in query else "benign"
        pool = self.results.get(label, []) if "diagnosis_1:" in query else []
        chunk = pool[cursor : cursor + limit]
        more = cursor + limit < len(pool)
        next_url = None
        if more:
            next_url = f"{self.url}images/search/?" + urllib.parse.urlencode(
                {"query": query, "limit": limit, "cursor": cursor + limit}
            )
        return {"count": len(pool), "next": next_url, "previous": None, "results": chunk}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep pytest output quiet
                pass

            def do_GET(self) -> None:  # http.server's name
                archive.requests.append(self.path)
                parsed = urllib.parse.urlparse(self.path)
                if parsed.path == "/api/v2/images/search/":
                    query = urllib.parse.parse_qs(parsed.query)
                    page = archive._page(
                        query.get("query", [""])[0],
                        int(query.get("limit", ["100"])[0]),
                        int(query.get("cursor", ["0"])[0]),
                    )
                    self._send(200, json.dumps(page).encode(), "application/json")
                    return
                kind, _, file_name = parsed.path.removeprefix("/files/").partition("/")
                isic_id = file_name.rsplit(".", 1)[0]
                if isic_id in archive.files:
                    archive.hits[kind] += 1
                    self._send(200, archive.files[isic_id], "image/jpeg")
                else:
                    self._send(404, b'{"detail": "Not found."}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> FakeArchive:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
