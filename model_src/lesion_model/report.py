"""PNG plots for report/: training curves, ROC curve, confusion matrix.

matplotlib is optional (the training container may lack it): without it the report
holds only metrics.json and a warning is logged.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)


def write_report(report_dir: str, metrics: dict, roc: tuple | None = None, history: dict | None = None):
    """Write metrics.json and whatever plots the inputs allow; returns the files written."""
    os.makedirs(report_dir, exist_ok=True)
    written = [os.path.join(report_dir, "metrics.json")]
    with open(written[0], "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: report/ has metrics.json but no plots")
        return written
    if history:
        written.append(_plot_history(plt, history, os.path.join(report_dir, "training_curves.png")))
    if roc is not None:
        written.append(_plot_roc(plt, roc, metrics, os.path.join(report_dir, "roc_curve.png")))
    if "confusion_matrix" in metrics:
        path = os.path.join(report_dir, "confusion_matrix.png")
        written.append(_plot_confusion(plt, metrics["confusion_matrix"], metrics.get("threshold"), path))
    return written


def _plot_history(plt, history: dict, path: str) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "auc"), strict=True):
        for name in (key, f"val_{key}"):
            if name in history:
                ax.plot(range(1, len(history[name]) + 1), history[name], label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_roc(plt, roc: tuple, metrics: dict, path: str) -> str:
    fpr, tpr = roc[0], roc[1]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"ROC AUC {metrics.get('roc_auc', float('nan')):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    if "sensitivity" in metrics:
        ax.plot(1 - metrics["specificity"], metrics["sensitivity"], "o", label="operating threshold")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_confusion(plt, cm: dict, threshold, path: str) -> str:
    grid = [[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]]
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(grid[i][j]), ha="center", va="center", fontsize=14)
    ax.set_xticks([0, 1], ["benign", "malignant"])
    ax.set_yticks([0, 1], ["benign", "malignant"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"threshold {threshold:.3f}" if threshold is not None else "")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
