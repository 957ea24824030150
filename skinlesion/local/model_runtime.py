"""Runs a SageMaker TensorFlow Serving `model.tar.gz` the way the inference container does.

The container unpacks the artifact, serves `model/<version>/` with TensorFlow Serving and
wraps it with the artifact's own `code/inference.py`: `input_handler(data, context)` turns
the request into a TF Serving REST body, TF Serving predicts, `output_handler(response,
context)` turns its `requests.Response` into `(body, content_type)`. This module keeps
that call flow and those objects, with TF Serving replaced by the SavedModel loaded once
in-process (same `serving_default` signature, same `{"instances": [{"b64": ...}]}` REST
decoding), so the artifact's handlers run unchanged.

Errors keep their HTTP meaning: an exception from a handler that carries a 4xx
(`status_code`: inference.py's RequestError outside the container) is answered with
that status and `{"error": message}`, any other exception with 500, as the container
does. With batching on (SAGEMAKER_TFS_ENABLE_BATCHING, as on the deployed endpoint) TF
Serving's batch limits apply: more than SAGEMAKER_TFS_MAX_BATCH_SIZE instances in one
request is its 400, a full batching queue its 503 (batching.py).
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import json
import logging
import os
import sys
import tarfile
import tempfile
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

from skinlesion.local.batching import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_ENQUEUED_BATCHES,
    DEFAULT_NUM_BATCH_THREADS,
    DEFAULT_TIMEOUT_S,
    Batcher,
    BatchTooLarge,
    QueueFull,
    RunBatch,
)

log = logging.getLogger(__name__)

# The fields of the container's request context (2.20 image; 2.19 lacks `timeout`).
Context = namedtuple(
    "Context",
    "model_name model_version method rest_uri grpc_port channel custom_attributes "
    "request_content_type accept_header content_length timeout",
)

_DEFAULT_CONTENT_TYPE = "application/json"  # the container's default request content type
_HANDLER_TIMEOUT_S = 60  # the container's own timeout for the TF Serving call


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, body bytes, content type."""

    status: int
    body: bytes
    content_type: str = "application/json"


def _json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode("utf-8"))


class ArtifactError(Exception):
    """The model.tar.gz is missing, unreadable or not laid out as DESIGN.md says."""


def _find_saved_model(root: Path) -> tuple[Path, str, str]:
    """(version dir, model name, version) as tfs_utils.find_models does: numeric parent dir."""
    for pb in sorted(root.rglob("saved_model.pb")):
        if pb.parent.name.isdigit():
            name = pb.parent.parent.name if pb.parent.parent != root else "model"
            return pb.parent, name, pb.parent.name
    raise ArtifactError(f"no <name>/<version>/saved_model.pb in the artifact (looked under {root})")


def _import_inference(code_dir: Path) -> ModuleType | None:
    script = code_dir / "inference.py"
    if not script.is_file():
        return None
    lib = code_dir / "lib"
    if lib.is_dir():  # the container puts code/lib on the path for vendored modules
        sys.path.append(str(lib))
    spec = importlib.util.spec_from_file_location("inference", script)
    if spec is None or spec.loader is None:
        raise ArtifactError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "handler") and not (
        hasattr(module, "input_handler") and hasattr(module, "output_handler")
    ):
        raise ArtifactError("code/inference.py defines neither handler nor input_handler + output_handler")
    return module


def _decode_instance(instance: Any, input_name: str) -> bytes:
    """One TF Serving REST instance for a DT_STRING input: {"b64": ...}, named, or plain text."""
    if isinstance(instance, dict) and input_name in instance:
        instance = instance[input_name]
    if isinstance(instance, dict) and set(instance) == {"b64"}:
        try:
            return base64.b64decode(instance["b64"], validate=True)
        except (binascii.Error, TypeError) as err:
            raise ValueError(f"Unable to base64 decode: {err}") from err
    if isinstance(instance, str):
        return instance.encode("utf-8")
    raise ValueError(f"expected a string or {{'b64': ...}} for input '{input_name}'")


class ServedModel:
    """A model.tar.gz unpacked, its SavedModel loaded once and its inference.py imported."""

    def __init__(
        self,
        artifact: Path,
        *,
        rest_uri: str = "http://127.0.0.1/v1/models/model:predict",
        batching: bool | None = None,  # None: as SAGEMAKER_TFS_ENABLE_BATCHING says (default off)
    ) -> None:
        artifact = Path(artifact)
        if not artifact.is_file():
            raise ArtifactError(f"model artifact not found: {artifact}")
        self._tmp = tempfile.TemporaryDirectory(prefix="skinlesion-model-")
        root = Path(self._tmp.name)
        try:
            with tarfile.open(artifact) as tar:
                tar.extractall(root, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise ArtifactError(f"cannot unpack {artifact}: {err}") from err
        self.root = root
        version_dir, self.model_name, self.model_version = _find_saved_model(root)
        meta = root / "metadata.json"
        self.metadata: dict[str, Any] = json.loads(meta.read_text()) if meta.is_file() else {}
        self.rest_uri = rest_uri
        self._load_graph(version_dir)
        self._inference = _import_inference(root / "code")
        self._batcher = _batcher_from_env(self._run) if batching is None else None
        if batching:
            self._batcher = Batcher(self._run)

    def _load_graph(self, version_dir: Path) -> None:
        import tensorflow as tf  # imported here: TF takes seconds and only the model server needs it

        # The container's knobs for TF Serving's thread pools (0 or unset: TensorFlow decides).
        for variable, setter in (
            ("SAGEMAKER_TFS_INTRA_OP_PARALLELISM", tf.config.threading.set_intra_op_parallelism_threads),
            ("SAGEMAKER_TFS_INTER_OP_PARALLELISM", tf.config.threading.set_inter_op_parallelism_threads),
        ):
            if int(os.environ.get(variable) or 0) > 0:
                setter(int(os.environ[variable]))
        self._tf = tf
        self._loaded = tf.saved_model.load(str(version_dir))  # keep a reference: owns the variables
        self._signature = self._loaded.signatures["serving_default"]
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise ArtifactError(f"serving_default must take one input, takes {sorted(inputs)}")
        self.input_name = next(iter(inputs))

    def close(self) -> None:
        self._tmp.cleanup()

    def _run(self, values: list[bytes]) -> dict[str, list[Any]]:
        """One signature call: {output name: one row per input}."""
        outputs = self._signature(**{self.input_name: self._tf.constant(values, dtype=self._tf.string)})
        return {name: tensor.numpy().tolist() for name, tensor in outputs.items()}

    # ---------------------------------------------------------------- TF Serving REST
    def tfs_predict(self, body: bytes) -> Reply:
        """TF Serving's `:predict` REST call: row ("instances") or columnar ("inputs") format."""
        try:
            request = json.loads(body)
            rows = request["instances"] if "instances" in request else request["inputs"]
            if isinstance(rows, dict):
                rows = rows[self.input_name]
            if not isinstance(rows, list) or not rows:
                raise ValueError("'instances' must be a non-empty list")
            values = [_decode_instance(row, self.input_name) for row in rows]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return _json_reply(400, {"error": f"JSON Parse error: {err}"})
        try:
            arrays = self._batcher.submit(values) if self._batcher else self._run(values)
        except (BatchTooLarge, QueueFull) as err:  # TF Serving's batch scheduler: 400 / 503
            return _json_reply(err.status, {"error": str(err)})
        except self._tf.errors.InvalidArgumentError as err:
            return _json_reply(400, {"error": err.message})
        except self._tf.errors.OpError as err:
            return _json_reply(500, {"error": err.message})
        if len(arrays) == 1:
            return _json_reply(200, {"predictions": next(iter(arrays.values()))})
        rows_out = [dict(zip(arrays, values, strict=True)) for values in zip(*arrays.values(), strict=True)]
        return _json_reply(200, {"predictions": rows_out})

    # ---------------------------------------------------------------- container /invocations
    def invoke(
        self, data: bytes, *, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> Reply:
        """The container's POST /invocations: handlers around TF Serving, its error statuses."""
        context = Context(
            model_name=self.model_name,
            model_version=self.model_version,
            method="predict",
            rest_uri=self.rest_uri,
            grpc_port=None,
            channel=None,
            custom_attributes=custom_attributes,
            request_content_type=content_type or _DEFAULT_CONTENT_TYPE,
            accept_header=accept or "application/json",
            content_length=str(len(data)),
            timeout=_HANDLER_TIMEOUT_S,
        )
        try:
            if self._inference is None:
                return self._default_handler(data, context)
            if hasattr(self._inference, "handler"):
                body, out_type = self._inference.handler(io.BytesIO(data), context)
            else:
                body, out_type = self._run_handler_pair(data, context)
        except _TfsStatus as err:
            # The 2.20 container raises falcon.HTTPError with TF Serving's status before output_handler.
            return _json_reply(err.status, {"title": f"{err.status}", "description": err.description})
        except Exception as err:  # any other handler error is the container's 500
            status = _client_status(err)
            if status is None:
                log.warning("inference handler failed: %s", err)
            return _json_reply(status or 500, {"error": str(err)})
        if isinstance(body, str):
            body = body.encode("utf-8")
        return Reply(200, bytes(body), out_type or "application/json")

    def _run_handler_pair(self, data: bytes, context: Context) -> tuple[Any, str]:
        assert self._inference is not None
        processed = self._inference.input_handler(io.BytesIO(data), context)
        raw = processed.encode("utf-8") if isinstance(processed, str) else bytes(processed)
        reply = self.tfs_predict(raw)
        if reply.status != 200:
            raise _TfsStatus(reply.status, reply.body.decode("utf-8", "replace"))
        return self._inference.output_handler(_as_requests_response(reply, self.rest_uri), context)

    def _default_handler(self, data: bytes, context: Context) -> Reply:
        """No inference.py: the container accepts JSON only and passes it to TF Serving."""
        ctype = (context.request_content_type or "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/jsonlines", "application/jsons", "text/csv"):
            return _json_reply(415, {"error": f"Unsupported Media Type: {ctype}"})
        return self.tfs_predict(data)


def _client_status(err: Exception) -> int | None:
    """The 4xx a handler's exception carries (inference.RequestError's `status_code`), else None."""
    status = getattr(err, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 500 else None


def _batcher_from_env(run: RunBatch) -> Batcher | None:
    """The container's knobs (tfs_utils.create_batching_config): SAGEMAKER_TFS_ENABLE_BATCHING,
    _MAX_BATCH_SIZE, _BATCH_TIMEOUT_MICROS, _NUM_BATCH_THREADS, _MAX_ENQUEUED_BATCHES."""
    if os.environ.get("SAGEMAKER_TFS_ENABLE_BATCHING", "").lower() != "true":
        return None

    def knob(name: str, default: float) -> float:
        return float(os.environ.get(f"SAGEMAKER_TFS_{name}") or default)

    return Batcher(
        run,
        max_batch=int(knob("MAX_BATCH_SIZE", DEFAULT_MAX_BATCH)),
        timeout_s=knob("BATCH_TIMEOUT_MICROS", DEFAULT_TIMEOUT_S * 1e6) / 1e6,
        max_enqueued_batches=int(knob("MAX_ENQUEUED_BATCHES", DEFAULT_MAX_ENQUEUED_BATCHES)),
        threads=int(knob("NUM_BATCH_THREADS", DEFAULT_NUM_BATCH_THREADS)),
    )


class _TfsStatus(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _as_requests_response(reply: Reply, url: str) -> requests.Response:
    """A real requests.Response, as the container hands to output_handler."""
    response = requests.Response()
    response.status_code = reply.status
    response._content = reply.body  # the documented way to build one offline
    response.headers["Content-Type"] = reply.content_type
    response.encoding = "utf-8"
    response.url = url
    return response
