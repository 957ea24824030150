"""What real clients send by mistake gets a 4xx with a JSON error that says what was wrong.

Each case goes through the whole handler (proxy event in, proxy response out), and
none of them may reach the model: validation runs before paying for inference.
"""

from __future__ import annotations

import base64
import json
import os

import pytest

from . import imagegen
from .conftest import ORIGIN, invoke, make_event

CASES = {
    # name: (body, content type, base64 in the event, status, code, words the message must contain)
    "gif_declared_as_gif": (imagegen.gif(), "image/gif", True, 415, "unsupported_media_type", "image/gif"),
    "gif_declared_as_jpeg": (imagegen.gif(), "image/jpeg", True, 400, "bad_request", "GIF"),
    "truncated_jpeg": (imagegen.jpeg((400, 400))[:3000], "image/jpeg", True, 400, "bad_request", "truncated"),
    "seven_mb_body": (
        b"\xff\xd8\xff\xe0" + os.urandom(7_000_000),
        "image/jpeg",
        True,
        413,
        "payload_too_large",
        "4.4 MB",
    ),
    "ten_px_png": (imagegen.png((10, 10)), "image/png", True, 422, "image_rejected", "32 px"),
    "thin_strip_png": (imagegen.png((1000, 20)), "image/png", True, 422, "image_rejected", "1000x20"),
    "png_header_20000_px": (
        imagegen.png_header_only(20_000, 20_000),
        "image/png",
        True,
        422,
        "image_rejected",
        "pixels",
    ),
    "png_header_8000_px": (
        imagegen.png_header_only(8000, 8000),
        "image/png",
        True,
        422,
        "image_rejected",
        "pixels",
    ),
    "text_as_image": ("hello, this is not an image", "image/jpeg", True, 400, "bad_request", "not a JPEG"),
    "text_sent_as_text": ("hello", "text/plain", False, 415, "unsupported_media_type", "text/plain"),
    "empty_body": (None, "image/jpeg", True, 400, "bad_request", "empty"),
    "empty_base64_body": ("", "image/png", False, 400, "bad_request", "empty"),
    "no_content_type": (imagegen.jpeg(), None, True, 415, "unsupported_media_type", "Content-Type"),
    "curl_form_default": (
        imagegen.jpeg(),
        "application/x-www-form-urlencoded",
        True,
        415,
        "unsupported_media_type",
        "accepted",
    ),
    "json_without_image": ('{"file": "abc"}', "application/json", False, 400, "bad_request", '"image"'),
    "json_image_not_a_string": ('{"image": 42}', "application/json", False, 400, "bad_request", '"image"'),
    "json_not_json": ("{image: nope", "application/json", False, 400, "bad_request", "not valid JSON"),
    "json_bad_base64": ('{"image": "not*base64!"}', "application/json", False, 400, "bad_request", "base64"),
    "json_base64_of_text": (
        json.dumps({"image": base64.b64encode(b"just some text").decode()}),
        "application/json",
        False,
        400,
        "bad_request",
        "not a JPEG",
    ),
    "json_too_large": (
        json.dumps({"image": base64.b64encode(os.urandom(4_500_000)).decode()}),
        "application/json",
        False,
        413,
        "payload_too_large",
        "limit",
    ),
    "surrogate_in_json": ('{"image": "\ud800"}', "application/json", False, 400, "bad_request", "base64"),
    "lone_surrogate_as_image": ("\ud800", "image/jpeg", False, 400, "bad_request", "not a JPEG"),
    "webp_corrupt": (imagegen.webp()[:40], "image/webp", True, 400, "bad_request", "WebP"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_4xx_and_never_reaches_the_model(lambda_app, sagemaker, case):
    body, content_type, encoded, status, code, words = CASES[case]
    event = make_event(body, content_type=content_type, base64_encoded=encoded)

    answer = invoke(lambda_app, event)

    assert (answer.status, answer.body["error"]["code"]) == (status, code), answer.body
    assert words in answer.body["error"]["message"]
    assert answer.body["requestId"] == event["requestContext"]["requestId"] == answer.headers["x-request-id"]
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert sagemaker.state.invocations == []


def test_raw_body_that_api_gateway_did_not_base64_encode_is_judged_as_bytes(lambda_app):
    # A stage without the binary media types passes the body as text; it must still be a 4xx.
    answer = invoke(
        lambda_app, make_event("\ufffd\ufffdPNG garbage", content_type="image/png", base64_encoded=False)
    )

    assert answer.status == 400


def test_the_413_message_states_the_limit_in_bytes(lambda_app):
    answer = invoke(
        lambda_app, make_event(b"\x89PNG\r\n\x1a\n" + b"\0" * 4_400_001, content_type="image/png")
    )

    assert answer.status == 413
    assert "4,400,000 bytes" in answer.body["error"]["message"]


def test_an_image_at_the_size_limit_is_accepted(lambda_app, sagemaker):
    # GIVEN a real JPEG padded (after its end marker) to exactly MAX_IMAGE_BYTES
    data = imagegen.jpeg((256, 256))
    data += b"\0" * (lambda_app.contract.MAX_IMAGE_BYTES - len(data))

    answer = invoke(lambda_app, make_event(data))

    assert answer.status == 200
