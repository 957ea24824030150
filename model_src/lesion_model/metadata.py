"""metadata.json: everything a consumer needs to use and trust an artifact.

The predict Lambda reads threshold, class_names, version and arch from it; GET /model
shows it; evaluate.py reads input_size and threshold from it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess

import keras
import tensorflow as tf

from lesion_model import CLASS_NAMES

# The SageMaker containers this artifact is built for (pinned in the stack as well).
TRAINING_CONTAINER = "tensorflow-training:2.21-py312"
INFERENCE_CONTAINER = "tensorflow-inference:2.20-py312"
HYPERPARAMETERS = (
    "arch",
    "weights",
    "image_size",
    "batch_size",
    "learning_rate",
    "dropout",
    "epochs",
    "head_epochs",
    "fine_tune_fraction",
    "freeze_through",
    "fine_tune_lr_scale",
    "augment",
    "head",
    "colour_constancy",
    "sampling",
    "calibrate",
    "dedup_distance",
    "dedup_correlation",
    "no_class_weights",
    "val_fraction",
    "test_fraction",
    "seed",
    "target_sensitivity",
    "patience",
    "max_minutes",
)


def build_metadata(args, splits, skipped, val_metrics, test_metrics, history, train_seconds) -> dict:
    trained_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    revision = args.source_revision or source_revision()
    meta = {
        "version": f"{trained_at:%Y-%m-%dT%H-%M-%SZ}-{revision[:7]}",
        "arch": args.arch,
        "class_names": list(CLASS_NAMES),
        "input_size": int(args.image_size),
        "threshold": float(val_metrics["threshold"]),
        "target_sensitivity": float(args.target_sensitivity),
        "validation_metrics": val_metrics,
        "dataset": {
            "name": "+".join(
                os.path.basename(os.path.normpath(r)) for r in str(args.train).split(",") if r.strip()
            ),
            "splits": {name: _counts(split) for name, split in splits.items()},
            "skipped_unreadable": int(skipped),
            "split_seed": int(args.seed),
        },
        "framework": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "training_container": TRAINING_CONTAINER,
            "inference_container": INFERENCE_CONTAINER,
        },
        "source_revision": revision,
        "trained_at": trained_at.isoformat().replace("+00:00", "Z"),
        "training": {
            "hyperparameters": {k: _plain(getattr(args, k)) for k in HYPERPARAMETERS},
            "epochs_run": len(history.get("loss", [])),
            "seconds": round(train_seconds, 1),
        },
        "intended_use": "research demonstration; not a medical device and not for diagnosis",
    }
    weights = getattr(args, "pretrained", None)  # lesion_model.pretrained.check's record (sha256, verified)
    if weights is not None:
        meta["training"]["pretrained_weights"] = weights.metadata()
    if test_metrics is not None:
        meta["test_metrics"] = test_metrics
    return meta


def _counts(split) -> dict:
    return split.class_counts() if hasattr(split, "class_counts") else dict(split)


def source_revision() -> str:
    """git HEAD of model_src (with -dirty if model_src has uncommitted changes), else 'unknown'."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".."], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def _plain(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def write_summary(meta: dict, path: str, command: str) -> None:
    """A small metrics.json for humans and CI beside a shipped artifact, with its exact command."""
    keys = ("version", "arch", "input_size", "threshold", "target_sensitivity", "dataset", "training")
    optional = (
        "threshold_rule", "metrics_by_source", "metrics_by_source_split", "validation_metrics_by_source",
        "test_metrics_by_source", "calibration", "leave_one_source_out",
    )  # fmt: skip
    summary = (
        {k: meta[k] for k in keys}
        | {k: meta[k] for k in optional if k in meta}
        | {
            "validation_metrics": meta["validation_metrics"],
            "test_metrics": meta.get("test_metrics"),
            "command": command,
        }
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
