"""Helpers for the model tests: generated dermoscopy-like images and container-shaped contexts.

Everything is generated, so the suite passes on a fresh clone without ../shared.
"""

from __future__ import annotations

import io
import os
from collections import namedtuple

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = 64
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The context object the SageMaker TF Serving container passes to the handlers (2.19 fields);
# the 2.20 container adds `timeout`.
Context219 = namedtuple(
    "Context",
    "model_name model_version method rest_uri grpc_port channel custom_attributes "
    "request_content_type accept_header content_length",
)
Context220 = namedtuple("Context", Context219._fields + ("timeout",))


def lesion_image(malignant: bool, rng: np.random.Generator, size: int = SIZE, fmt: str = "JPEG") -> bytes:
    """A skin-coloured square with a blob: small, round and light brown for benign, large and dark
    for malignant, so a few training steps can tell them apart."""
    yy, xx = np.mgrid[0:size, 0:size]
    skin = np.array([225, 180, 160]) + rng.normal(0, 6, 3)
    img = np.ones((size, size, 3)) * skin
    radius = size * (0.32 if malignant else 0.18) * rng.uniform(0.85, 1.15)
    cy, cx = size / 2 + rng.normal(0, 3, 2)
    blob = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    img[blob] = np.array([70, 40, 45] if malignant else [160, 110, 80]) + rng.normal(0, 8, 3)
    img += rng.normal(0, 4, img.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def write_folder_dataset(root, n_benign: int, n_malignant: int, seed: int = 0, corrupt: int = 0) -> str:
    rng = np.random.default_rng(seed)
    for name, count, malignant in (("benign", n_benign, False), ("malignant", n_malignant, True)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(count):
            with open(os.path.join(root, name, f"img_{i:03d}.jpg"), "wb") as f:
                f.write(lesion_image(malignant, rng))
    for i in range(corrupt):
        with open(os.path.join(root, "benign", f"broken_{i}.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return str(root)
