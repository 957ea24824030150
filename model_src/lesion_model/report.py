"""PNG plots for report/: training curves, ROC curve, confusion matrix.

matplotlib is optional (the training container may lack it): without it the report
holds only metrics.json and a warning is logged.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)


def write_report(
    report_dir: str,
    metrics: dict,
    roc: tuple | None = None,
    history: dict | None = None,
    reliability: list[dict] | None = None,
):
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
    if reliability:
        written.append(
            _plot_reliability(plt, reliability, metrics, os.path.join(report_dir, "reliability.png"))
        )
    if "confusion_matrix" in metrics:
        path = os.path.join(report_dir, "confusion_matrix.png")
        written.append(_plot_confusion(plt, metrics["confusion_matrix"], metrics.get("threshold"), path))
    return written


def _plot_history(plt, history: dict, path: str) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "auc"), strict=True):
        names = [key, f"val_{key}"] + sorted(n for n in history if key == "auc" and n.startswith("val_auc_"))
        names += ["val_worst_source_auc"] if key == "auc" else []
        for name in names:
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


def _plot_reliability(plt, bins: list[dict], metrics: dict, path: str) -> str:
    """Predicted p(malignant) against the observed malignant fraction, per bin (size = count)."""
    xs = [b["mean_probability"] for b in bins if b["n"]]
    ys = [b["fraction_malignant"] for b in bins if b["n"]]
    sizes = [10 + 200 * b["n"] / max(1, max(c["n"] for c in bins)) for b in bins if b["n"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8, label="perfectly calibrated")
    ax.plot(xs, ys, "-", color="C0", linewidth=1)
    ax.scatter(xs, ys, s=sizes, color="C0", label="validation bins")
    cal = metrics.get("calibration") or {}
    title = "reliability (validation)"
    if "validation_ece_before" in cal:
        title += f"\nECE {cal['validation_ece_before']:.3f} -> {cal['validation_ece_after']:.3f}"
        title += f" (T={cal.get('applied_temperature', 1.0):.2f})"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("predicted p(malignant)")
    ax.set_ylabel("observed fraction malignant")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
