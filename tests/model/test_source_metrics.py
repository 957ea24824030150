"""Per-source metrics, the worst-source threshold rule and calibration, on tiny sets with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from lesion_model.metrics import (
    expected_calibration_error,
    fit_temperature,
    metrics_by_source,
    threshold_for_sensitivity,
    threshold_for_worst_source,
    worst_source_auc,
)

# Source "a": perfectly ranked. Source "b": one benign image outranks one of its two malignant ones.
LABELS = [0, 0, 1, 1, 0, 0, 1, 1]
SCORES = [0.1, 0.2, 0.8, 0.9, 0.3, 0.7, 0.6, 0.95]
SOURCES = ["a", "a", "a", "a", "b", "b", "b", "b"]


def test_metrics_by_source_known_answers():
    m = metrics_by_source(LABELS, SCORES, SOURCES, threshold=0.65)
    assert m["a"] == {"n": 4, "n_malignant": 2, "auc": 1.0, "sensitivity": 1.0, "specificity": 1.0}
    # b: pairs (benign, malignant) ranked right: (0.3,0.6) (0.3,0.95) (0.7,0.95) = 3 of 4
    assert m["b"]["auc"] == pytest.approx(0.75)
    assert m["b"]["sensitivity"] == 0.5 and m["b"]["specificity"] == 0.5  # 0.95 caught, 0.7 false alarm
    assert worst_source_auc(LABELS, SCORES, SOURCES) == pytest.approx(0.75)


def test_melanoma_vs_benign_auc_leaves_other_malignant_diagnoses_out():
    # in "a" the 0.8 malignant is a BCC: without it melanoma (0.9) vs benign is still perfect;
    # in "b" the 0.6 malignant is a BCC: melanoma 0.95 beats both benign -> 1.0
    mask = [True, True, False, True, True, True, False, True]
    m = metrics_by_source(LABELS, SCORES, SOURCES, 0.65, melanoma_or_benign=mask)
    assert m["a"]["melanoma_vs_benign_auc"] == 1.0 and m["b"]["melanoma_vs_benign_auc"] == 1.0
    assert m["b"]["auc"] == pytest.approx(0.75)


def test_threshold_keeps_the_target_sensitivity_in_the_worst_source():
    # Pooled, 3 of 4 malignant (0.75) are caught at 0.8; per source, "b" needs 0.6 to catch both of its own.
    pooled = threshold_for_sensitivity(LABELS, SCORES, 0.75)
    worst = threshold_for_worst_source(LABELS, SCORES, SOURCES, 0.75)
    assert pooled == 0.8 and worst == 0.6
    m = metrics_by_source(LABELS, SCORES, SOURCES, worst)
    assert min(row["sensitivity"] for row in m.values()) >= 0.75
    assert (
        metrics_by_source(LABELS, SCORES, SOURCES, pooled)["b"]["sensitivity"] == 0.5
    )  # the pooled rule fails b


def test_threshold_ignores_a_source_without_malignant_images():
    labels, scores, srcs = [0, 1, 1, 0, 0], [0.1, 0.5, 0.9, 0.99, 0.2], ["a", "a", "a", "b", "b"]
    assert threshold_for_worst_source(labels, scores, srcs, 1.0) == 0.5


def test_expected_calibration_error_known_value():
    # bin (0.1, 0.2]: p 0.15 twice, 1 of 2 malignant -> |0.15 - 0.5| x 2/4;
    # bin (0.8, 0.9]: p 0.85 twice, both malignant -> |0.85 - 1| x 2/4
    ece = expected_calibration_error([0, 1, 1, 1], [0.15, 0.15, 0.85, 0.85])
    assert ece == pytest.approx(0.5 * 0.35 + 0.5 * 0.15)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_temperature_scaling_recovers_an_overconfident_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    t = fit_temperature(labels, true_logits * 3.0)  # a model 3x too confident
    assert t == pytest.approx(3.0, rel=0.05)
    before = expected_calibration_error(labels, 1 / (1 + np.exp(-true_logits * 3.0)))
    after = expected_calibration_error(labels, 1 / (1 + np.exp(-true_logits * 3.0 / t)))
    assert after < before / 3
