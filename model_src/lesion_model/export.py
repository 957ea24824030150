"""Write the deployable artifact: SavedModel + inference.py + metadata + report, and its tarball.

Layout (DESIGN.md): model/1/ (SavedModel, serving_default: image_bytes tf.string [None]
-> probabilities float32 [None, 2], plus lesion_score float32 [None] when a guard is given),
code/inference.py, metadata.json (with "guard": its threshold), report/.

The SavedModel is written with keras.export.ExportArchive. Wrapping a Keras 3 model
in tf.saved_model.save loads in eager Python but fails in TF Serving's session-based
loader ("Could not find variable ..."), so that route is not used.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile

import keras
import tensorflow as tf

from lesion_model.guard import OUTPUT_KEY as GUARD_OUTPUT_KEY
from lesion_model.guard import LesionGuard, feature_parts, serving_model
from lesion_model.preprocess import decode_and_resize

MODEL_NAME = "model"
MODEL_VERSION_DIR = "1"
SIGNATURE = "serving_default"
INPUT_KEY = "image_bytes"
OUTPUT_KEY = "probabilities"
INFERENCE_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inference.py")


def export_saved_model(
    model: keras.Model, image_size: int, path: str, guard: LesionGuard | None = None
) -> None:
    """Export `model` (one logit per image) behind a bytes-in, probabilities-out signature.

    With `guard`, the signature also returns `lesion_score` [None]: the guard reads the model's
    own pooled features (one functional model computes logit and features in one pass) and its
    parameters are constants of the graph, so the session loader needs nothing else.
    """
    extractor = serving_model(model, guard.backbone_layer) if guard is not None else None

    def serve(image_bytes):
        images = tf.map_fn(
            lambda b: decode_and_resize(b, image_size),
            image_bytes,
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
        )
        if extractor is None:
            logits = model(images, training=False)
        else:
            outputs = extractor(images, training=False)
            logits = outputs["logit"]
        p_malignant = tf.reshape(tf.sigmoid(tf.cast(logits, tf.float32)), [-1])
        result = {OUTPUT_KEY: tf.stack([1.0 - p_malignant, p_malignant], axis=1)}
        if extractor is not None:
            result[GUARD_OUTPUT_KEY] = tf.reshape(guard.tf_score(feature_parts(outputs, images)), [-1])
        return result

    archive = keras.export.ExportArchive()
    archive.track(model if extractor is None else extractor)
    archive.add_endpoint(
        name=SIGNATURE, fn=serve, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_KEY)]
    )
    archive.write_out(path, verbose=False)


def write_artifact_dir(
    model: keras.Model,
    image_size: int,
    out_dir: str,
    metadata: dict,
    report_dir=None,
    guard: LesionGuard | None = None,
):
    """Lay the artifact out in `out_dir` (SageMaker tars SM_MODEL_DIR itself).

    With `guard`, the SavedModel gains `lesion_score` and metadata.json a "guard" entry
    (`guard.metadata()`, unless the caller already put one there).
    """
    if guard is not None and "guard" not in metadata:
        metadata = {**metadata, "guard": guard.metadata()}
    os.makedirs(out_dir, exist_ok=True)
    saved_model = os.path.join(out_dir, MODEL_NAME, MODEL_VERSION_DIR)
    if os.path.exists(saved_model):
        shutil.rmtree(saved_model)
    export_saved_model(model, image_size, saved_model, guard)
    os.makedirs(os.path.join(out_dir, "code"), exist_ok=True)
    shutil.copyfile(INFERENCE_SCRIPT, os.path.join(out_dir, "code", "inference.py"))
    with open(os.path.join(out_dir, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")
    if report_dir and os.path.abspath(report_dir) != os.path.abspath(os.path.join(out_dir, "report")):
        shutil.copytree(report_dir, os.path.join(out_dir, "report"), dirs_exist_ok=True)


def make_tarball(src_dir: str, tar_path: str) -> None:
    """Deterministic model.tar.gz: sorted entries, mtime 0, no owners, so equal files hash equal."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _sorted_entries(src_dir):
            full = os.path.join(src_dir, rel)
            info = tar.gettarinfo(full, arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    os.makedirs(os.path.dirname(os.path.abspath(tar_path)), exist_ok=True)
    with open(tar_path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())


def _sorted_entries(src_dir: str) -> list[str]:
    entries = []
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, src_dir)
        if rel_dir != ".":
            entries.append(rel_dir)
        entries.extend(os.path.normpath(os.path.join(rel_dir, name)) for name in sorted(filenames))
    return sorted(entries)


def read_metadata(tar_path: str) -> dict:
    """metadata.json of a model.tar.gz, without unpacking the rest."""
    with tarfile.open(tar_path, "r:gz") as tar:
        member = tar.extractfile("metadata.json")
        if member is None:
            raise ValueError(f"{tar_path} has no metadata.json")
        return json.load(member)


def extract(tar_path: str, dest: str) -> str:
    """Unpack an artifact (trusted: one we built) and return the SavedModel directory."""
    with tarfile.open(tar_path, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return os.path.join(dest, MODEL_NAME, MODEL_VERSION_DIR)
