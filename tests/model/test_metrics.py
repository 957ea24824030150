"""Metrics agree with scikit-learn; the threshold meets the target sensitivity on the data given."""

from __future__ import annotations

import numpy as np
import pytest
from lesion_model.metrics import binary_metrics, threshold_for_sensitivity
from sklearn.metrics import average_precision_score, roc_auc_score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_pr_auc_match_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.6 + labels * 0.3, 2)  # rounded: many tied scores
    m = binary_metrics(labels, scores, 0.5)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_confusion_matrix_sensitivity_and_specificity_at_threshold():
    m = binary_metrics([0, 0, 0, 1, 1], [0.1, 0.6, 0.2, 0.7, 0.3], threshold=0.5)
    assert m["confusion_matrix"] == {"tn": 2, "fp": 1, "fn": 1, "tp": 1}
    assert m["sensitivity"] == 0.5 and m["specificity"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_threshold_reaches_target_sensitivity_with_best_specificity():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = rng.random(500) * 0.7 + labels * 0.3
    t = threshold_for_sensitivity(labels, scores, 0.9)
    m = binary_metrics(labels, scores, t)
    assert m["sensitivity"] >= 0.9
    # Any higher threshold (next positive score up) would drop below the target.
    higher = np.min(scores[(labels == 1) & (scores > t)])
    assert binary_metrics(labels, scores, higher)["sensitivity"] < 0.9


def test_threshold_rejects_data_without_malignant_cases():
    with pytest.raises(ValueError, match="no malignant"):
        threshold_for_sensitivity([0, 0], [0.2, 0.4], 0.9)
