"""evaluate.py scores a labelled folder through the artifact's serving signature."""

from __future__ import annotations

import json
import os

import evaluate
from lesion_model.export import read_metadata


def test_evaluate_writes_metrics_and_plots_at_the_artifacts_threshold(trained_artifact, tmp_path):
    out = tmp_path / "eval"
    argv = ["--artifact", trained_artifact["package"], "--data", trained_artifact["dataset"]]
    assert evaluate.main([*argv, "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 40 and metrics["skipped_unreadable"] == 1  # the corrupt file is reported
    assert metrics["threshold"] == read_metadata(trained_artifact["package"])["threshold"]
    cm = metrics["confusion_matrix"]
    assert cm["tp"] + cm["fn"] == 16 and cm["tn"] + cm["fp"] == 24
    assert 0.0 <= metrics["roc_auc"] <= 1.0
    assert {"roc_curve.png", "confusion_matrix.png"} <= set(os.listdir(out))


def test_evaluate_accepts_an_unpacked_artifact_and_a_threshold_override(trained_artifact, tmp_path):
    metrics = evaluate.evaluate(
        trained_artifact["model_dir"], trained_artifact["dataset"], str(tmp_path), 0.0
    )
    assert metrics["sensitivity"] == 1.0 and metrics["specificity"] == 0.0  # everything is "malignant"
    assert metrics["threshold_source"] == "command line"
