"""Binary classification metrics and threshold selection, in numpy only.

numpy only, so the same code runs inside the SageMaker training container and here;
tests check it against scikit-learn.
"""

from __future__ import annotations

import math

import numpy as np


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), thresholds descending."""
    y, s = _arrays(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # one point per distinct score
    tps = np.cumsum(y)[last_of_run]
    fps = (last_of_run + 1) - tps
    n_pos, n_neg = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


def roc_auc(labels, scores) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def average_precision(labels, scores) -> float:
    """Area under the precision-recall curve as a step sum (scikit-learn's definition)."""
    y, s = _arrays(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_run]
    precision = tps / (last_of_run + 1)
    recall = tps / max(int(y.sum()), 1)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_for_sensitivity(labels, scores, target: float) -> float:
    """Highest threshold whose sensitivity (p >= t counts as malignant) reaches `target`.

    The highest such threshold gives the best specificity at that sensitivity. Call
    it with validation data only: choosing it on test data inflates the test numbers.
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    y, s = _arrays(labels, scores)
    positives = np.sort(s[y == 1])[::-1]
    if positives.size == 0:
        raise ValueError("no malignant examples to choose a threshold on")
    k = math.ceil(target * positives.size - 1e-9)
    return float(positives[k - 1])


def binary_metrics(labels, scores, threshold: float) -> dict:
    """The numbers the field reports, at `threshold` on p(malignant)."""
    y, s = _arrays(labels, scores)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    fp = int(np.sum(pred & (y == 0)))
    sensitivity = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    return {
        "n": int(y.size),
        "n_malignant": int(y.sum()),
        "roc_auc": roc_auc(y, s),
        "pr_auc": average_precision(y, s),
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "balanced_accuracy": (sensitivity + specificity) / 2,
        "accuracy": (tp + tn) / y.size,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape or y.size == 0:
        raise ValueError(f"labels and scores must be non-empty and the same length ({y.size} vs {s.size})")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (benign) or 1 (malignant)")
    return y, s


# ---------------------------------------------------------------- per source (issue 13)


def threshold_for_worst_source(labels, scores, sources, target: float) -> float:
    """The highest threshold at which EVERY source with malignant images reaches `target`
    sensitivity: the minimum over sources of each source's own threshold."""
    y, s = _arrays(labels, scores)
    src = np.asarray(sources)
    per_source = [
        threshold_for_sensitivity(y[src == name], s[src == name], target)
        for name in sorted(set(src.tolist()))
        if y[src == name].sum() > 0
    ]
    if not per_source:
        raise ValueError("no malignant examples to choose a threshold on")
    return float(min(per_source))


def metrics_by_source(labels, scores, sources, threshold: float, melanoma_or_benign=None) -> dict:
    """{source: {auc, sensitivity, specificity, n, n_malignant, melanoma_vs_benign_auc}} at one threshold.

    `melanoma_or_benign`: boolean mask of the images in a melanoma-against-benign comparison
    (benign ones and melanomas); its AUC is reported beside the benign/malignant one.
    """
    y, s = _arrays(labels, scores)
    src = np.asarray(sources)
    out = {}
    for name in sorted(set(src.tolist())):
        sel = src == name
        m = binary_metrics(y[sel], s[sel], threshold)
        row = {
            "n": m["n"],
            "n_malignant": m["n_malignant"],
            "auc": _auc_or_nan(y[sel], s[sel]),
            "sensitivity": m["sensitivity"],
            "specificity": m["specificity"],
        }
        if melanoma_or_benign is not None:
            mb = sel & np.asarray(melanoma_or_benign, dtype=bool)
            row["melanoma_vs_benign_auc"] = _auc_or_nan(y[mb], s[mb])
            row["n_melanoma"] = int(y[mb].sum())
        out[name] = row
    return out


def worst_source_auc(labels, scores, sources) -> float:
    """The lowest per-source ROC AUC (sources with both classes only)."""
    y, s = _arrays(labels, scores)
    src = np.asarray(sources)
    aucs = [_auc_or_nan(y[src == n], s[src == n]) for n in set(src.tolist())]
    aucs = [a for a in aucs if not math.isnan(a)]
    return float(min(aucs)) if aucs else float("nan")


def _auc_or_nan(y, s) -> float:
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    return roc_auc(y, s)


# ---------------------------------------------------------------- calibration


def expected_calibration_error(labels, probabilities, bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |mean p - fraction malignant| x bin share."""
    y, p = _arrays(labels, probabilities)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return float(ece)


def reliability_bins(labels, probabilities, bins: int = 10) -> list[dict]:
    y, p = _arrays(labels, probabilities)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "n": int((which == b).sum()),
            "mean_probability": float(p[which == b].mean()) if (which == b).any() else None,
            "fraction_malignant": float(y[which == b].mean()) if (which == b).any() else None,
        }
        for b in range(bins)
    ]


def _nll(y: np.ndarray, logits: np.ndarray) -> float:
    # -log sigmoid(z) for y=1, -log(1 - sigmoid(z)) for y=0, computed stably
    z = np.where(y == 1, logits, -logits)
    return float(np.mean(np.logaddexp(0.0, -z)))


def fit_temperature(labels, logits) -> float:
    """The T > 0 that minimises the negative log-likelihood of sigmoid(logit / T) (grid, then refine)."""
    y, z = _arrays(labels, logits)
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))
    best = grid[int(np.argmin([_nll(y, z / t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.03, 0.03, 61))
    return float(fine[int(np.argmin([_nll(y, z / t) for t in fine]))])


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)
