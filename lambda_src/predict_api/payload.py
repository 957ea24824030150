"""Getting the image bytes out of an API Gateway proxy event, before any decoding.

Checks, in order, what costs least: the declared Content-Type (415), the size
estimated from the base64 length (413, before decoding megabytes), then the
body's encoding (400). Two request shapes are accepted: raw image bytes
(API Gateway base64-encodes them because image types are binary media types),
or `application/json` `{"image": "<base64>"}` for clients that cannot send binary.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import lesion_contract as contract
from predict_api.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

_ACCEPTED = ", ".join((*contract.IMAGE_CONTENT_TYPES, contract.JSON_CONTENT_TYPE))
_EMPTY_MESSAGE = "The request body is empty: send the image bytes (JPEG, PNG or WebP)."


def media_type(content_type: str | None) -> str:
    """`image/JPEG; charset=x` -> `image/jpeg`; 415 when missing or not accepted."""
    if not content_type or not content_type.strip():
        raise UnsupportedMediaType(f"The request has no Content-Type header; send one of: {_ACCEPTED}.")
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in contract.IMAGE_CONTENT_TYPES and declared != contract.JSON_CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"Content-Type {declared[:80]!r} is not accepted; send one of: {_ACCEPTED}."
        )
    return declared


def image_bytes(*, content_type: str | None, body: str | None, is_base64_encoded: bool) -> bytes:
    """The raw image bytes of a `/predict` request, or a 400/413/415 ApiError."""
    declared = media_type(content_type)
    if not body:
        raise BadRequest(_EMPTY_MESSAGE)
    # JSON carries base64 too, so both shapes are first judged by their decoded size.
    encoded = is_base64_encoded or declared == contract.JSON_CONTENT_TYPE
    _precheck_size(_decoded_length(body) if encoded else len(body))
    # surrogatepass: a text body may hold lone surrogates ("\ud800" in the event's JSON); they
    # must become bytes that fail validation (400), not a UnicodeEncodeError (500).
    raw = _b64decode(body, what="body") if is_base64_encoded else body.encode("utf-8", "surrogatepass")
    if declared == contract.JSON_CONTENT_TYPE:
        raw = _image_from_json(raw)
    if not raw:
        raise BadRequest(_EMPTY_MESSAGE)
    _check_size(len(raw))
    return raw


def too_large_message(size: int) -> str:
    limit = contract.MAX_IMAGE_BYTES
    return (
        f"The image is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB ({limit:,} bytes). "
        "Downscale or compress it before sending."
    )


def _check_size(size: int) -> None:
    if size > contract.MAX_IMAGE_BYTES:
        raise PayloadTooLarge(too_large_message(size))


def _precheck_size(estimate: int) -> None:
    # Refuse a huge body before decoding it. The estimate counts line breaks and JSON
    # syntax as data, so the margin keeps images just under the limit from a false 413;
    # the exact check follows decoding.
    if estimate > contract.MAX_IMAGE_BYTES * 1.05:
        raise PayloadTooLarge(too_large_message(estimate))


def _decoded_length(b64: str) -> int:
    return len(b64) * 3 // 4


def _b64decode(text: str | bytes, *, what: str) -> bytes:
    # Encoders that wrap lines (76 columns) are common; whitespace carries no data.
    compact = (
        b"".join(text.split())
        if isinstance(text, bytes)
        else "".join(text.split()).encode("ascii", "replace")
    )
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"The {what} is not valid base64.") from None


def _image_from_json(raw: bytes) -> bytes:
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest('The body is not valid JSON; send {"image": "<base64 of the image>"}.') from None
    image = document.get("image") if isinstance(document, dict) else None
    if not isinstance(image, str) or not image.strip():
        raise BadRequest('The JSON body has no "image" field; send {"image": "<base64 of the image>"}.')
    # A data URL (what a browser's FileReader gives) carries the base64 after the comma.
    if image.startswith("data:") and "," in image:
        image = image.split(",", 1)[1]
    return _b64decode(image, what='"image" field')
