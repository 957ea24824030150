"""The artifact train.py writes: layout, metadata, deterministic tarball, and the serving
signature loaded the way TF Serving loads it (session loader), in 2.21 and in 2.20."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from lesion_model.export import extract, make_tarball, read_metadata

from .helpers import lesion_image
from .tfs_session_run import ServingSession

REQUIRED_METADATA = {
    "version", "arch", "class_names", "input_size", "threshold", "validation_metrics", "dataset",
    "framework", "source_revision", "trained_at",
}  # fmt: skip
REQUIRED_MEMBERS = {
    "model/1/saved_model.pb", "model/1/variables/variables.index", "code/inference.py",
    "metadata.json", "report/metrics.json", "report/roc_curve.png", "report/confusion_matrix.png",
    "report/training_curves.png",
}  # fmt: skip


@pytest.fixture(scope="module")
def saved_model_dir(trained_artifact, tmp_path_factory):
    return extract(trained_artifact["package"], str(tmp_path_factory.mktemp("unpacked")))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return [lesion_image(True, rng), lesion_image(False, rng, size=200), lesion_image(True, rng, fmt="PNG")]


def test_tarball_has_the_design_layout_and_no_requirements_txt(trained_artifact):
    with tarfile.open(trained_artifact["package"]) as tar:
        names = set(tar.getnames())
    assert names >= REQUIRED_MEMBERS
    assert "code/requirements.txt" not in names  # it would pip-install at endpoint start, offline


def test_metadata_has_the_keys_consumers_read(trained_artifact):
    meta = read_metadata(trained_artifact["package"])
    assert set(meta) >= REQUIRED_METADATA
    assert meta["class_names"] == ["benign", "malignant"] and meta["input_size"] == 64
    assert meta["threshold"] == meta["validation_metrics"]["threshold"]
    assert {"roc_auc", "pr_auc", "balanced_accuracy", "sensitivity", "specificity"} <= set(
        meta["validation_metrics"]
    )
    assert meta["source_revision"] == "testrev" and meta["dataset"]["skipped_unreadable"] == 1


def test_tarball_is_byte_for_byte_reproducible(trained_artifact, tmp_path):
    again = tmp_path / "again.tar.gz"
    make_tarball(trained_artifact["model_dir"], str(again))
    digest = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (trained_artifact["package"], again)]
    assert digest[0] == digest[1]


@pytest.fixture(scope="module")
def served(saved_model_dir) -> ServingSession:
    return ServingSession(saved_model_dir)


def test_session_loader_serves_jpeg_and_png_like_eager(saved_model_dir, served, images):
    probabilities, names = np.asarray(served(images)), served.names
    assert names["image_bytes"].startswith("serving_default_image_bytes")
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    eager = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    expected = eager(image_bytes=tf.constant(images))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_signature_declares_string_input_and_two_probabilities(saved_model_dir):
    sig = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    (spec,) = sig.structured_input_signature[1].values()
    assert spec.dtype == tf.string and spec.shape.as_list() == [None]
    assert sig.structured_outputs["probabilities"].shape.as_list() == [None, 2]


def test_undecodable_bytes_are_an_invalid_argument_not_a_crash(served):
    with pytest.raises(tf.errors.InvalidArgumentError):
        served([b"definitely not an image"])


def test_inference_container_tensorflow_2_20_answers_the_same(saved_model_dir, served, images, tmp_path):
    python = os.environ.get("SKINLESION_TF_SERVING_PYTHON")
    if not python or not os.path.isfile(python):
        pytest.skip("SKINLESION_TF_SERVING_PYTHON (the TF 2.20 venv; `make .venv-tf220/.stamp`) is not set")
    files = []
    for i, blob in enumerate(images):
        files.append(tmp_path / f"img{i}")
        files[-1].write_bytes(blob)
    script = os.path.join(os.path.dirname(__file__), "tfs_session_run.py")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [python, script, saved_model_dir, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["tf"].startswith("2.20.")
    np.testing.assert_allclose(answer["probabilities"], served(images), atol=1e-5)


def test_train_py_artifact_carries_the_guard(trained_artifact, served, images):
    """train.py fits the not-a-lesion guard by default: its threshold is in metadata.json and its
    score is a second output of the signature, next to unchanged probabilities."""
    guard = read_metadata(trained_artifact["package"])["guard"]
    assert guard["output"] == "lesion_score" and guard["threshold"] == 0.5
    assert 0.0 <= guard["validation"]["lesion_refusal_rate"] <= 0.2
    names = served.names
    assert "lesion_score" in names
    scores = served.session.run(names["lesion_score"], {names["image_bytes"]: images})
    assert scores.shape == (3,) and np.all((scores >= 0.0) & (scores <= 1.0))
