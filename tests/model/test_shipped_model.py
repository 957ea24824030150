"""The default model shipped in the repository: layout, metadata, and it serves an image."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from lesion_model.export import extract, read_metadata

from .helpers import REPO, lesion_image
from .tfs_session_run import session_run

SHIPPED = os.path.join(REPO, "models", "default", "model.tar.gz")


def test_shipped_artifact_has_the_design_layout_and_is_small():
    with tarfile.open(SHIPPED) as tar:
        names = set(tar.getnames())
    assert {"model/1/saved_model.pb", "code/inference.py", "metadata.json", "report/roc_curve.png"} <= names
    assert "report/reliability.png" in names
    assert "code/requirements.txt" not in names
    assert os.path.getsize(SHIPPED) < 20_000_000


def test_shipped_metadata_describes_a_validated_model():
    meta = read_metadata(SHIPPED)
    assert meta["class_names"] == ["benign", "malignant"] and meta["arch"] == "mobilenet_v2"
    assert 0.0 < meta["threshold"] < 1.0
    assert meta["validation_metrics"]["sensitivity"] >= meta["target_sensitivity"]
    assert meta["validation_metrics"]["roc_auc"] > 0.75
    assert meta["dataset"]["name"] == "isic-dev+isic-2017"
    summary = json.loads(Path(REPO, "models", "default", "metrics.json").read_text())
    assert summary["version"] == meta["version"]  # metrics.json describes this very artifact


def test_shipped_metadata_says_where_the_model_holds():
    """Issue 13: per-source metrics, the worst-source threshold and the leave-one-source-out table."""
    meta = read_metadata(SHIPPED)
    by_source = meta["metrics_by_source"]
    assert set(by_source) == {"isic-dev", "isic-2017"}
    for row in by_source.values():
        assert {"auc", "sensitivity", "specificity", "n", "melanoma_vs_benign_auc"} <= set(row)
    for row in meta[
        "validation_metrics_by_source"
    ].values():  # the threshold rule, on the data it was chosen on
        assert row["sensitivity"] >= meta["target_sensitivity"]
    assert meta["dataset"]["deduplication"]["kept"] > 4000
    loso = meta["leave_one_source_out"]["rows"]
    assert {(tuple(r["train_source"]), r["test_source"]) for r in loso} == {
        (("isic-dev",), "isic-2017"), (("isic-2017",), "isic-dev"),
    }  # fmt: skip
    assert 0.0 < meta["calibration"]["applied_temperature"] < 10.0


def test_shipped_guard_was_not_fitted_on_the_lesions_that_set_its_threshold():
    """The clinical part (model_src/guard_clinical.py) is fitted on the default split's training
    lesions only: none of the validation lesions that set the guard's threshold, nor the test lesions."""
    clinical = read_metadata(SHIPPED)["guard"]["clinical"]
    assert clinical["held_out_lesions_it_was_fitted_on"] == {"val": 0, "test": 0}
    assert "training split" in clinical["positives"]


def test_shipped_model_serves_a_generated_image_through_the_session_loader(tmp_path):
    saved_model = extract(SHIPPED, str(tmp_path))
    rng = np.random.default_rng(0)
    probabilities, _ = session_run(saved_model, [lesion_image(True, rng, size=224)])
    assert np.asarray(probabilities).shape == (1, 2)
    assert sum(probabilities[0]) == pytest.approx(1.0, abs=1e-5)
