"""Pre/post-processing for the SageMaker TensorFlow Serving container (code/inference.py).

Standard library only: the container's Python has no TensorFlow, Pillow or numpy, and
the artifact ships no requirements.txt (installing it at endpoint start needs internet).
The SavedModel decodes, resizes and scales the image itself, so this file only wraps
the bytes in the JSON TF Serving's REST API expects.

Requests:
  application/x-image, image/jpeg, image/png  one image (raw bytes) -> [p_benign, p_malignant]
  application/json {"instances": [{"b64": "..."}, ...]}  a batch -> {"predictions": [[...], ...]}
The graph also decodes WebP (tf.io.decode_image, TF 2.20 and 2.21), but this handler takes
only the three types above; the predict Lambda re-encodes WebP to JPEG before invoking.

The not-a-lesion guard (an extension the original clients never see): a SavedModel with the
guard also returns `lesion_score` (float in [0, 1], high = looks like a dermoscopic lesion
image; metadata.json["guard"]["threshold"] is where the API starts refusing). A request asks
for it with either
  CustomAttributes "lesion-score=true"  (header X-Amzn-SageMaker-Custom-Attributes; a comma-
      separated key=value list, other keys are ignored), or
  Accept "application/vnd.skinlesion+json".
Then one image answers {"probabilities": [p_benign, p_malignant], "lesion_score": s}, with
Content-Type application/vnd.skinlesion+json when asked through Accept, else application/json;
a JSON batch answers {"predictions": [[...], ...], "lesion_scores": [s, ...]}. An artifact
without the guard answers "lesion_score": null (and nulls in "lesion_scores"): do not refuse then.
Without the extension the answers above stay exactly as they were, for old and new artifacts.

Errors: a bad request raises an error carrying a 4xx status. Inside the container that
is a falcon.HTTPError; every published version of the container's python_service.py
answers any handler exception with a 500, so SageMaker reports a ModelError (the API
validates images before invoking, so only a broken client of the endpoint meets this).
Elsewhere (the local model server, tests) it is `RequestError`, whose `status_code` says
which 4xx to answer.
"""

import base64
import binascii
import json

ONE_IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON_TYPE = "application/json"
LESION_SCORE_TYPE = "application/vnd.skinlesion+json"
LESION_SCORE_ATTRIBUTE = "lesion-score"
PROBABILITIES = "probabilities"
LESION_SCORE = "lesion_score"

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
    """Shape TF Serving's answer: one image -> [p_benign, p_malignant]; JSON batch -> predictions.

    With the guard extension (see the module docstring) the lesion score comes along.
    """
    # The 2.19 container hands non-200 answers to this function; 2.20 raises before it.
    if response.status_code != 200:
        message = response.content.decode("utf-8", "replace")
        status = response.status_code if 400 <= response.status_code < 500 else 502
        if status == 400:
            message = f"the image could not be decoded or scored: {message}"
        raise _client_error(status, message) if status < 500 else RuntimeError(message)
    probabilities, scores = _split_predictions(json.loads(response.content)["predictions"])
    extension = _accepts_lesion_score(context.accept_header)
    wanted = extension or _asks_lesion_score(context.custom_attributes)
    if _media_type(context.request_content_type) == JSON_TYPE:
        body = {"predictions": probabilities}
        if wanted:
            body["lesion_scores"] = scores
        return json.dumps(body), LESION_SCORE_TYPE if extension else JSON_TYPE
    if wanted:
        body = {PROBABILITIES: probabilities[0], LESION_SCORE: scores[0]}
        return json.dumps(body), LESION_SCORE_TYPE if extension else JSON_TYPE
    return json.dumps(probabilities[0]), JSON_TYPE


def _split_predictions(predictions):
    """TF Serving's rows -> (probabilities per image, lesion score per image or None).

    One output (an artifact without the guard) gives rows [p_benign, p_malignant]; several
    give rows {"probabilities": [...], "lesion_score": s}.
    """
    probabilities, scores = [], []
    for row in predictions:
        if isinstance(row, dict):
            probabilities.append(row[PROBABILITIES])
            score = row.get(LESION_SCORE)
            scores.append(float(score) if isinstance(score, (int, float)) else None)
        else:
            probabilities.append(row)
            scores.append(None)
    return probabilities, scores


def _asks_lesion_score(custom_attributes):
    """CustomAttributes such as "tfs-model-name=model,lesion-score=true"."""
    for item in (custom_attributes or "").replace(";", ",").split(","):
        key, _, value = item.partition("=")
        if key.strip().lower() == LESION_SCORE_ATTRIBUTE and value.strip().lower() in ("true", "1", "yes"):
            return True
    return False


def _accepts_lesion_score(accept_header):
    """Accept names the extension's media type (alone or in a list)."""
    return any(_media_type(part) == LESION_SCORE_TYPE for part in (accept_header or "").split(","))
