"""Builds a small but real model.tar.gz in DESIGN.md's layout, for model-server tests.

A trivial Keras model (mean colour -> sigmoid) exported with ExportArchive under the shipped
signature (image_bytes tf.string [None] -> probabilities float32 [None, 2]), plus a
stdlib-only code/inference.py written to the container contract. It lets the model server's
tests run in seconds without the shipped artifact.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

INFERENCE_PY = """
import base64
import json


def input_handler(data, context):
    ctype = (context.request_content_type or "").split(";")[0].strip().lower()
    if ctype in ("application/x-image", "image/jpeg", "image/png"):
        return json.dumps({"instances": [{"b64": base64.b64encode(data.read()).decode("ascii")}]})
    if ctype == "application/json":
        return data.read().decode("utf-8")
    raise ValueError(f"415 Unsupported content type: {ctype or 'unknown'}")


def output_handler(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8", "replace"))
    body = json.loads(response.content)
    if context.request_content_type.startswith("application/json"):
        return json.dumps(body), "application/json"
    return json.dumps(body["predictions"][0]), "application/json"
"""

METADATA = {
    "version": "tiny-test",
    "arch": "mean-colour",
    "class_names": ["benign", "malignant"],
    "input_size": 32,
    "threshold": 0.5,
    "validation_metrics": {"roc_auc": 0.5},
}


# The container's other contract: one handler(data, context) that calls TF Serving itself.
SINGLE_HANDLER_PY = """
import base64
import json

import requests


def handler(data, context):
    body = json.dumps({"instances": [{"b64": base64.b64encode(data.read()).decode("ascii")}]})
    response = requests.post(context.rest_uri, data=body, timeout=10)
    return json.dumps(response.json()["predictions"][0]), "application/json"
"""


def build_tiny_artifact(out: Path, inference_py: str = INFERENCE_PY) -> Path:
    import keras
    import tensorflow as tf

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))

    def serve(image_bytes):
        def one(b):
            img = tf.io.decode_image(b, channels=3, expand_animations=False)
            return tf.image.resize(img, (32, 32))

        x = tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([32, 32, 3], tf.float32))
        p = tf.reshape(model(x, training=False), [-1])
        return {"probabilities": tf.stack([1.0 - p, p], axis=1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    staging = out.parent / "tiny-staging"
    archive.write_out(str(staging / "model" / "1"), verbose=False)
    (staging / "code").mkdir()
    (staging / "code" / "inference.py").write_text(inference_py)
    (staging / "metadata.json").write_text(json.dumps(METADATA))
    with tarfile.open(out, "w:gz") as tar:
        for name in ("model", "code", "metadata.json"):
            tar.add(staging / name, arcname=name)
    return out


def jpeg_bytes(size: int = 224, colour: tuple[int, int, int] = (180, 120, 90)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="JPEG")
    return buf.getvalue()
