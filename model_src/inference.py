"""Pre/post-processing for the SageMaker TensorFlow Serving container (code/inference.py).

Standard library only: the container's Python has no TensorFlow, Pillow or numpy, and
the artifact ships no requirements.txt (installing it at endpoint start needs internet).
The SavedModel decodes, resizes and scales the image itself, so this file only wraps
the bytes in the JSON TF Serving's REST API expects.

Requests:
  application/x-image, image/jpeg, image/png  one image (raw bytes) -> [p_benign, p_malignant]
  application/json {"instances": [{"b64": "..."}, ...]}  a batch -> {"predictions": [[...], ...]}
WebP is not decoded by the graph: the predict Lambda re-encodes it to JPEG first.

Errors: a bad request raises an error carrying a 4xx status. Inside the container that
is a falcon.HTTPError (the 2.20 container re-raises it with its status; older ones turn
every exception into a 500); elsewhere (the local model server, tests) it is
`RequestError`, whose `status_code` says which 4xx to answer.
"""

import base64
import binascii
import json

ONE_IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON_TYPE = "application/json"

try:  # present in the SageMaker TF Serving container, not needed anywhere else
    import falcon
except ImportError:  # pragma: no cover - depends on the environment
    falcon = None


class RequestError(ValueError):
    """A client error; `status_code` is the HTTP status the server should answer with."""

    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code
        self.status = status_code


def _client_error(status_code, message):
    if falcon is not None:
        return falcon.HTTPError(status_code, title="Bad request", description=message)
    return RequestError(status_code, message)


def _media_type(value):
    return (value or "").split(";")[0].strip().lower()


def input_handler(data, context):
    """Turn the invocation body into TF Serving's {"instances": [{"b64": ...}]} request."""
    content_type = _media_type(context.request_content_type)
    body = data.read() if hasattr(data, "read") else data
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body:
        raise _client_error(400, "empty request body: send the image bytes")
    if content_type in ONE_IMAGE_TYPES:
        return json.dumps({"instances": [{"b64": base64.b64encode(body).decode("ascii")}]})
    if content_type == JSON_TYPE:
        return json.dumps({"instances": _json_instances(body)})
    raise _client_error(
        415,
        f"unsupported content type {content_type or 'none'!r}; use one of "
        f"{', '.join(ONE_IMAGE_TYPES + (JSON_TYPE,))}",
    )


def _json_instances(body):
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _client_error(400, f"request body is not valid JSON: {err}") from None
    instances = request.get("instances") if isinstance(request, dict) else None
    if not isinstance(instances, list) or not instances:
        raise _client_error(400, 'JSON body must be {"instances": [{"b64": "<base64 image>"}, ...]}')
    cleaned = []
    for i, item in enumerate(instances):
        encoded = item.get("b64") if isinstance(item, dict) else None
        if not isinstance(encoded, str):
            raise _client_error(400, f'instances[{i}] must be an object {{"b64": "<base64 image>"}}')
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _client_error(400, f"instances[{i}].b64 is not valid base64") from None
        cleaned.append({"b64": encoded})
    return cleaned


def output_handler(response, context):
    """Shape TF Serving's answer: one image -> [p_benign, p_malignant]; JSON batch -> predictions."""
    # The 2.19 container hands non-200 answers to this function; 2.20 raises before it.
    if response.status_code != 200:
        message = response.content.decode("utf-8", "replace")
        status = response.status_code if 400 <= response.status_code < 500 else 502
        if status == 400:
            message = f"the image could not be decoded or scored: {message}"
        raise _client_error(status, message) if status < 500 else RuntimeError(message)
    predictions = json.loads(response.content)["predictions"]
    if _media_type(context.request_content_type) == JSON_TYPE:
        return json.dumps({"predictions": predictions}), JSON_TYPE
    return json.dumps(predictions[0]), JSON_TYPE
