"""The bad-or-unusual input corpus: each case is a request and the answer DESIGN.md promises.

Expectations come from docs/DESIGN.md ("A bad request never yields a 5xx"), the error codes in
contract.ERROR_CODES, and the Lambda's documented choices in docs/api.md:
- declared content type outside contract.IMAGE_CONTENT_TYPES (+ JSON)   -> 415
- empty, undecodable, not really JPEG/PNG/WebP, bad JSON / base64       -> 400
- raw image above contract.MAX_IMAGE_BYTES that still fits the event    -> 413 payload_too_large
- event above Lambda's 6 MB: API Gateway's own 413 {"message": "Request Too Long"};
  body above API Gateway's 10 MB: its own 413 (text body); the handler never runs
- too few or too many pixels (decompression bombs included)             -> 422 image_rejected
- valid but unusual images (CMYK, 16-bit, palette, EXIF-rotated, ...)   -> 200 and a prediction
Bodies are built lazily: `build(name)`; `NAMES` lists every case.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import lesion_contract as contract

from . import images as im

PREDICTION = "prediction"  # 200 with the DESIGN.md body
API_ERROR = "api_error"  # {"error": {"code", "message"}, "requestId"} from the handler
GATEWAY_TOO_LONG = "gateway_too_long"  # API Gateway's own 413 {"message": "Request Too Long"}
GATEWAY_TOO_LARGE = "gateway_too_large"  # API Gateway's own 413 above 10 MB


@dataclass(frozen=True)
class Case:
    """One request (body + headers) and the answer it must get."""

    name: str
    body: bytes
    headers: dict[str, str | bytes]
    status: int
    kind: str
    note: str
    path: str = contract.ROUTE_PREDICT
    raw_image: bytes = field(default=b"", repr=False)  # decoded image inside a JSON body

    @property
    def code(self) -> str | None:
        return contract.ERROR_CODES.get(self.status) if self.kind == API_ERROR else None


def _ct(content_type: str | None) -> dict[str, str | bytes]:
    return {} if content_type is None else {"Content-Type": content_type}


def ok(name: str, body: bytes, content_type: str | None, note: str, **headers: str | bytes) -> Case:
    return Case(name, body, {**_ct(content_type), **headers}, 200, PREDICTION, note)


def err(name: str, body: bytes, content_type: str | None, status: int, note: str) -> Case:
    return Case(name, body, _ct(content_type), status, API_ERROR, note)


def as_json(name: str, payload: object, status: int, note: str, raw: bytes = b"") -> Case:
    body = json.dumps(payload).encode()
    kind = PREDICTION if status == 200 else API_ERROR
    return Case(name, body, _ct(contract.JSON_CONTENT_TYPE), status, kind, note, raw_image=raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


JPEG, PNG, WEBP, X_IMAGE = contract.IMAGE_CONTENT_TYPES
# Handler's 413: over MAX_IMAGE_BYTES, yet base64 + event envelope still under Lambda's 6 MB.
HANDLER_413_BYTES = contract.MAX_IMAGE_BYTES + 100_000
GATEWAY_6MB_BYTES = 7_000_000  # base64 ~9.3 MB > 6 MB event
GATEWAY_10MB_BYTES = 12_000_000  # > API Gateway's 10 MB
HTML = b"<html><body><img src=x onerror=alert(1)></body></html>"

_BUILDERS: dict[str, Callable[[], Case]] = {
    # --- 200: valid, including unusual, images
    "jpeg_224": lambda: ok("jpeg_224", im.jpeg(), JPEG, "baseline"),
    "png_rgb": lambda: ok("png_rgb", im.png(), PNG, "baseline PNG"),
    "png_rgba": lambda: ok("png_rgba", im.png(mode="RGBA"), PNG, "alpha channel"),
    "webp": lambda: ok("webp", im.encode(im.lesion(), "WEBP", quality=85), WEBP, "WebP"),
    "x_image": lambda: ok("x_image", im.jpeg(), X_IMAGE, "application/x-image (original API)"),
    "cmyk_jpeg": lambda: ok("cmyk_jpeg", im.jpeg(mode="CMYK"), JPEG, "CMYK JPEG (print tools)"),
    "png_16bit": lambda: ok("png_16bit", im.png16_gray(), PNG, "16-bit greyscale PNG"),
    "gray_jpeg": lambda: ok("gray_jpeg", im.jpeg(mode="L"), JPEG, "greyscale JPEG"),
    "palette_png_transparent": lambda: ok(
        "palette_png_transparent", im.palette_png_with_transparency(), PNG, "palette + tRNS"
    ),
    "exif_rotated": lambda: ok("exif_rotated", im.exif_rotated_jpeg(), JPEG, "EXIF orientation 6"),
    "progressive_jpeg": lambda: ok("progressive_jpeg", im.jpeg(progressive=True), JPEG, "progressive"),
    "phone_photo_12mp": lambda: ok("phone_photo_12mp", im.jpeg((4032, 3024)), JPEG, "12 MP, downscaled"),
    "second_image_appended": lambda: ok(
        "second_image_appended", im.jpeg() + im.png(), JPEG, "JPEG then a PNG: first image is used"
    ),
    "content_type_params": lambda: ok(
        "content_type_params", im.jpeg(), "image/jpeg; charset=binary", "media type parameters"
    ),
    "content_type_upper": lambda: ok("content_type_upper", im.jpeg(), "IMAGE/JPEG", "case-insensitive"),
    "huge_header": lambda: ok("huge_header", im.jpeg(), JPEG, "8 KB header", **{"X-Padding": "a" * 8000}),
    "unicode_header": lambda: ok(
        "unicode_header", im.jpeg(), JPEG, "UTF-8 bytes in a header", **{"X-Note": "café ✓ 皮膚".encode()}
    ),
    "png_declared_jpeg": lambda: ok(
        "png_declared_jpeg", im.png(), JPEG, "real PNG under image/jpeg: sniffed"
    ),
    "webp_declared_png": lambda: ok(
        "webp_declared_png", im.encode(im.lesion(), "WEBP"), PNG, "real WebP under image/png: sniffed"
    ),
    "json_data_url": lambda: as_json(
        "json_data_url", {"image": "data:image/jpeg;base64," + _b64(im.jpeg())}, 200, "FileReader", im.jpeg()
    ),
    "query_string": lambda: Case(
        "query_string", im.jpeg(), _ct(JPEG), 200, PREDICTION, "ignored query", path="/predict?debug=1&x=%00"
    ),
    "json_jpeg": lambda: as_json("json_jpeg", {"image": _b64(im.jpeg())}, 200, "JSON API", im.jpeg()),
    "json_png": lambda: as_json("json_png", {"image": _b64(im.png())}, 200, "JSON API, PNG", im.png()),
    # --- 415: declared type not accepted
    "text_plain": lambda: err("text_plain", b"hello, this is not an image", "text/plain", 415, "text"),
    "html": lambda: err("html", HTML, "text/html", 415, "HTML with an inline handler"),
    "gif": lambda: err("gif", im.encode(im.lesion(), "GIF"), "image/gif", 415, "GIF"),
    "bmp": lambda: err("bmp", im.encode(im.lesion(), "BMP"), "image/bmp", 415, "BMP"),
    "tiff": lambda: err("tiff", im.encode(im.lesion(), "TIFF"), "image/tiff", 415, "TIFF"),
    "svg_script": lambda: err("svg_script", im.svg_with_script(), "image/svg+xml", 415, "SVG with <script>"),
    "pdf": lambda: err("pdf", im.pdf(), "application/pdf", 415, "PDF"),
    "zip": lambda: err("zip", im.zip_of_jpeg(), "application/zip", 415, "ZIP holding a JPEG"),
    "octet_stream_jpeg": lambda: err("octet_stream_jpeg", im.jpeg(), "application/octet-stream", 415, ""),
    "missing_content_type": lambda: err("missing_content_type", im.jpeg(), None, 415, "no Content-Type"),
    "form_upload": lambda: err(
        "form_upload",
        b"--x\r\n\r\n" + im.jpeg() + b"\r\n--x--\r\n",
        "multipart/form-data; boundary=x",
        415,
        "form",
    ),
    # --- 400: bytes are not a decodable JPEG / PNG / WebP, or the JSON is wrong
    "empty_jpeg": lambda: err("empty_jpeg", b"", JPEG, 400, "empty body"),
    "text_as_jpeg": lambda: err("text_as_jpeg", b"hello, this is not an image", JPEG, 400, "text bytes"),
    "html_as_png": lambda: err("html_as_png", b"<html><body>hi</body></html>", PNG, 400, ""),
    "truncated_jpeg": lambda: err("truncated_jpeg", im.jpeg_truncated(), JPEG, 400, "half a JPEG"),
    "corrupt_jpeg_header": lambda: err("corrupt_jpeg_header", im.jpeg_corrupt_header(), JPEG, 400, ""),
    "png_bad_crc": lambda: err("png_bad_crc", im.png_bad_crc(), PNG, 400, "IHDR CRC flipped"),
    "gif_as_jpeg": lambda: err("gif_as_jpeg", im.encode(im.lesion(), "GIF"), JPEG, 400, "GIF magic"),
    "bmp_as_png": lambda: err("bmp_as_png", im.encode(im.lesion(), "BMP"), PNG, 400, "BMP magic"),
    "svg_as_png": lambda: err("svg_as_png", im.svg_with_script(), PNG, 400, "SVG under an image type"),
    "pdf_as_jpeg": lambda: err("pdf_as_jpeg", im.pdf(), JPEG, 400, "PDF under an image type"),
    "zeros_as_webp": lambda: err("zeros_as_webp", b"\x00" * 4096, WEBP, 400, "NUL bytes"),
    "png_signature_only": lambda: err("png_signature_only", im.PNG_SIGNATURE, PNG, 400, ""),
    "json_empty": lambda: err("json_empty", b"", contract.JSON_CONTENT_TYPE, 400, "empty JSON body"),
    "json_malformed": lambda: err("json_malformed", b'{"image": ', contract.JSON_CONTENT_TYPE, 400, ""),
    "json_invalid_utf8": lambda: err(
        "json_invalid_utf8", b'\xff\xfe{"image": "\xc3"}', contract.JSON_CONTENT_TYPE, 400, "not UTF-8"
    ),
    "json_no_image": lambda: as_json("json_no_image", {"picture": "abc"}, 400, "no image key"),
    "json_not_object": lambda: as_json("json_not_object", [_b64(im.jpeg())], 400, "a list"),
    "json_image_number": lambda: as_json("json_image_number", {"image": 12345}, 400, "not a string"),
    "json_bad_base64": lambda: as_json("json_bad_base64", {"image": "not*base64!!"}, 400, ""),
    "json_base64_text": lambda: as_json("json_base64_text", {"image": _b64(b"plain text")}, 400, ""),
    "json_base64_gif": lambda: as_json(
        "json_base64_gif", {"image": _b64(im.encode(im.lesion(), "GIF"))}, 400, "GIF in JSON"
    ),
    # --- 422: decodable but unusable pixel dimensions
    "one_pixel": lambda: err("one_pixel", im.png((1, 1)), PNG, 422, "1x1"),
    "eight_pixels": lambda: err("eight_pixels", im.jpeg((8, 8)), JPEG, 422, "8x8"),
    "header_20000": lambda: err("header_20000", im.png_header_claiming(20_000, 20_000), PNG, 422, ""),
    "png_bomb": lambda: err("png_bomb", im.png_bomb(12_000, 12_000), PNG, 422, "144 Mpx of zeros"),
    # --- 413: too large
    "over_handler_limit": lambda: err(
        "over_handler_limit", im.padded(im.jpeg(), HANDLER_413_BYTES), JPEG, 413, "reaches the handler"
    ),
    "body_7mb": lambda: Case(
        "body_7mb", im.padded(im.jpeg(), GATEWAY_6MB_BYTES), _ct(JPEG), 413, GATEWAY_TOO_LONG, "> 6 MB event"
    ),
    "body_12mb": lambda: Case(
        "body_12mb", im.padded(im.jpeg(), GATEWAY_10MB_BYTES), _ct(JPEG), 413, GATEWAY_TOO_LARGE, "> 10 MB"
    ),
}

NAMES: tuple[str, ...] = tuple(_BUILDERS)


@cache
def build(name: str) -> Case:
    case = _BUILDERS[name]()
    assert case.name == name, f"builder for {name} built {case.name}"
    return case
