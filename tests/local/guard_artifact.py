"""A small but real model.tar.gz with the not-a-lesion guard, served by the project's own inference.py.

The SavedModel has the guarded signature of DESIGN.md (image_bytes tf.string [None] ->
probabilities float32 [None, 2] and lesion_score float32 [None]); its code/inference.py
is model_src/inference.py as shipped, so the model server runs exactly the handlers the
SageMaker container would. The "guard" is a stand-in with a score a test can steer:
reddish-brown images (skin, lesion colours) score near 1, blue ones near 0, against the
threshold in metadata.json["guard"].
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFERENCE_PY = REPO / "model_src" / "inference.py"
THRESHOLD = 0.5
METADATA = {
    "version": "tiny-guarded",
    "arch": "mean-colour+guard",
    "class_names": ["benign", "malignant"],
    "input_size": 32,
    "threshold": 0.5,
    "validation_metrics": {"roc_auc": 0.5},
    "guard": {
        "output": "lesion_score",
        "threshold": THRESHOLD,
        "method": "test: sigmoid of (mean red - mean blue)",
        "threshold_rule": "fixed for tests",
        "validation": {"n": 0, "lesion_refusal_rate": 0.0},
    },
}
LESION_COLOUR = (160, 95, 70)  # lesion_score ~0.95
NOT_LESION_COLOUR = (40, 70, 200)  # lesion_score ~0.002


def build_guarded_artifact(out: Path) -> Path:
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
        mean = tf.reduce_mean(x, axis=[1, 2]) / 255.0
        lesion_score = tf.sigmoid(10.0 * (mean[:, 0] - mean[:, 2]))
        return {"probabilities": tf.stack([1.0 - p, p], axis=1), "lesion_score": lesion_score}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    staging = out.parent / "guarded-staging"
    archive.write_out(str(staging / "model" / "1"), verbose=False)
    (staging / "code").mkdir()
    (staging / "code" / "inference.py").write_text(INFERENCE_PY.read_text())
    (staging / "metadata.json").write_text(json.dumps(METADATA))
    with tarfile.open(out, "w:gz") as tar:
        for name in ("model", "code", "metadata.json"):
            tar.add(staging / name, arcname=name)
    return out


def image(colour: tuple[int, int, int], *, fmt: str = "JPEG", size: int = 96, **save) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format=fmt, **save)
    return buf.getvalue()


@contextlib.contextmanager
def endpoint_server(artifact: Path) -> Iterator:
    """The model server serving `artifact` with the deployed endpoint's container environment
    (batching on), on a free port; stopped and its model closed afterwards."""
    from lesion_contract import ENDPOINT_CONTAINER_ENV
    from skinlesion.local.model_server import start_model_server

    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENDPOINT_CONTAINER_ENV.items():
            patch.setenv(key, value)
        server = start_model_server(artifact, port=0)
    try:
        yield server
    finally:
        server.stop()
        server.model.close()


def runtime(url: str):
    """A sagemaker-runtime client for the local model server at `url`."""
    import boto3

    return boto3.client(
        "sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip


def instances(n: int) -> dict:
    """A TF Serving JSON request of `n` copies of the lesion-coloured image."""
    return {"instances": [{"b64": base64.b64encode(image(LESION_COLOUR)).decode()}] * n}
