"""The summary of `skinlesion batch`: counts, and metrics on labelled folders with known answers."""

from __future__ import annotations

import io

import pytest

from skinlesion.batch_output import Row
from skinlesion.batch_summary import Progress, labelled_metrics, roc_auc, summary, truth_of

THRESHOLD = 0.32


def _scored(path: str, p_malignant: float) -> Row:
    label = "malignant" if p_malignant >= THRESHOLD else "benign"
    return Row(path, label=label, p_benign=1 - p_malignant, p_malignant=p_malignant, threshold=THRESHOLD)


# GIVEN a tiny labelled set whose answers are worked out by hand:
#   benign scores 0.10, 0.40, 0.35; malignant 0.80, 0.30 (threshold 0.32)
#   pairs where the malignant image scores higher: 0.80 beats all 3, 0.30 beats 0.10 -> 4 of 6
#   sensitivity: 0.80 caught, 0.30 missed -> 1/2; specificity: only 0.10 called benign -> 1/3
TINY = [
    _scored("set/benign/a.jpg", 0.10),
    _scored("set/benign/b.jpg", 0.40),
    _scored("set/Benign/c.jpg", 0.35),
    _scored("set/malignant/d.jpg", 0.80),
    _scored("set/malignant/sub/e.jpg", 0.30),
    Row("set/malignant/f.jpg", refused=True, lesion_score=0.02),
    Row("set/benign/g.jpg", error_code="bad_request", error_message="not an image"),
    _scored("unlabelled/h.jpg", 0.9),
]


def test_labelled_folders_give_auc_sensitivity_and_specificity() -> None:
    metrics = labelled_metrics(TINY)
    assert metrics is not None
    assert (metrics.n_benign, metrics.n_malignant) == (3, 2)  # refusals, errors, unlabelled left out
    assert metrics.auc == pytest.approx(4 / 6)
    assert metrics.sensitivity == pytest.approx(1 / 2)
    assert metrics.specificity == pytest.approx(1 / 3)


def test_summary_counts_labels_refusals_errors_and_throughput() -> None:
    text = summary(TINY, scored_now=8, seconds=2.0, skipped=3)
    assert text.splitlines() == [
        "8 files: 2 benign, 4 malignant, 1 refused (not a skin lesion), 1 error",
        "Errors: bad_request 1",
        "This run: 8 files in 2.0 s (4.0 files/s); 3 already in the output, skipped",
        "Labelled folders (3 benign, 2 malignant scored): "
        "ROC AUC 0.667, sensitivity 0.500, specificity 0.333",
        "Research use only: not a diagnosis.",
    ]


def test_unlabelled_or_one_class_folders_show_what_can_be_computed() -> None:
    assert labelled_metrics([_scored("x/a.jpg", 0.5)]) is None
    assert "Labelled" not in summary([_scored("x/a.jpg", 0.5)], scored_now=1, seconds=1, skipped=0)
    only_malignant = labelled_metrics([_scored("malignant/a.jpg", 0.9), _scored("malignant/b.jpg", 0.1)])
    assert only_malignant is not None
    assert (only_malignant.auc, only_malignant.sensitivity, only_malignant.specificity) == (None, 0.5, None)


def test_auc_counts_ties_as_half_and_a_perfect_ranking_as_one() -> None:
    assert roc_auc([0.5], [0.5]) == 0.5
    assert roc_auc([0.1, 0.2], [0.3, 0.9]) == 1.0
    assert roc_auc([0.3, 0.9], [0.1, 0.2]) == 0.0
    assert roc_auc([0.2, 0.5, 0.5], [0.5, 0.7]) == pytest.approx(
        (0.5 + 0.5 + 1 + 3) / 6
    )  # 0.5 beats 0.2, ties two 0.5s


def test_truth_is_the_innermost_class_folder() -> None:
    assert truth_of("malignant/benign/x.jpg") == "benign"
    assert truth_of("benign.jpg") is None and truth_of("a/b/c.png") is None


def test_progress_shows_rate_and_eta_in_a_log() -> None:
    # GIVEN stderr that is not a terminal and a clock that moves 0.5 s per file
    ticks = iter([0.0] + [0.5 * i for i in range(1, 101)])
    stream = io.StringIO()
    progress = Progress(100, stream, enabled=True, clock=lambda: next(ticks))
    for _ in range(30):
        progress.step()
    # THEN one line now and one every 10 s, with the rate and the time left
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("1/100 (1 %) 2.0 files/s, ETA 0:50")
    assert lines[1].startswith("21/100 (21 %) 2.0 files/s, ETA 0:40")
    assert len(lines) == 2
