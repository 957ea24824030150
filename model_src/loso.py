"""Leave-one-source-out evaluation and the recipe ablation (issue 13).

For every recipe variant and every source S: train on the other source(s) only (a
validation split of them chooses the epoch and the threshold, by the same worst-source
rules as train.py), then score every image of S, a clinic the model never saw. This is
the project's estimate of performance on an unseen clinic.

    python model_src/loso.py --train ../shared/data/isic-dev,../shared/data/isic-2017 \\
        --weights ../shared/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5 \\
        --image-size 160 --epochs 6 --head-epochs 2 --out models/default/loso.json

Variants (each adds one part of the domain-shift recipe; a part that did not help is left
out of the variants after it):
  old                 binary head, no colour constancy, "dermoscopy" augmentation, shuffled + class weights
  +diag               diagnosis-level head (each source's labels used as meant)
  +diag+cc            + Shades-of-Grey colour constancy in the graph (did not help: dropped)
  +diag+aug           + "domain" augmentation (stronger photometric + geometric)
  +diag+aug+balance   + source-and-class balanced sampling
  +diag+aug+balance+frozen  + the backbone frozen through block_16_expand_relu, only its top
                      block and Conv_1 fine-tuned (= the default recipe since the guard reads
                      those ImageNet features)
Writes JSON (rows: train_source, test_source, variant, auc, sensitivity, specificity, n,
melanoma_vs_benign_auc, ece) and a markdown table beside it.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time

import keras
import numpy as np
import train
from lesion_model import sources
from lesion_model.metrics import (
    binary_metrics,
    expected_calibration_error,
    metrics_by_source,
    threshold_for_worst_source,
)

log = logging.getLogger("loso")

# The backbone layer kept frozen (with all below it) by the last variant: its ImageNet features are
# what the not-a-lesion guard reads (docs/model.md); the variants before it fine-tune every layer.
FROZEN_THROUGH = "block_16_expand_relu"
VARIANTS = {
    "old": {"head": "binary", "colour_constancy": "off", "augment": "dermoscopy", "sampling": "shuffle"},
    "+diag": {"head": "diagnosis", "colour_constancy": "off", "augment": "dermoscopy", "sampling": "shuffle"},
    "+diag+cc": {
        "head": "diagnosis",
        "colour_constancy": "on",
        "augment": "dermoscopy",
        "sampling": "shuffle",
    },
    "+diag+aug": {"head": "diagnosis", "colour_constancy": "off", "augment": "domain", "sampling": "shuffle"},
    "+diag+aug+balance": {
        "head": "diagnosis",
        "colour_constancy": "off",
        "augment": "domain",
        "sampling": "balanced",
    },  # fmt: skip
    "+diag+aug+balance+frozen": {
        "head": "diagnosis",
        "colour_constancy": "off",
        "augment": "domain",
        "sampling": "balanced",
        "freeze_through": FROZEN_THROUGH,
    },  # fmt: skip
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON file; a .md table is written beside it")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {list(VARIANTS)}")
    p.add_argument("--only-test-source", default="", help="run just the split that holds out this source")
    args, rest = p.parse_known_args(argv)
    targs = train.parse_args(rest)  # every train.py flag (data, arch, epochs, ...) applies
    return args, targs


def run(args, targs) -> dict:
    everything, skipped = train.decode_split(sources.list_datasets(targs.train), targs.image_size)
    report = sources.deduplicate(
        everything.split,
        sources.fingerprints(everything.images),
        targs.dedup_distance,
        targs.dedup_correlation,
    )
    everything = train.Part(everything.split.select(report.kept), everything.images[report.kept])
    groups = report.groups
    names = sorted(set(everything.split.sources))
    if len(names) < 2:
        raise SystemExit(f"leave-one-source-out needs two or more sources, got {names}")
    rows = []
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        for held_out in names:
            if args.only_test_source and held_out != args.only_test_source:
                continue
            rows.append(_one(targs, variant, held_out, everything, groups))
            _write(args.out, targs, rows, report, skipped)
    return _write(args.out, targs, rows, report, skipped)


def _one(targs, variant: str, held_out: str, everything, groups) -> dict:
    vargs = copy.copy(targs)
    vargs.freeze_through = ""
    for key, value in VARIANTS[variant].items():
        setattr(vargs, key, value)
    src = np.asarray(everything.split.sources)
    pool = np.flatnonzero(src != held_out)
    test = train._take(everything, np.flatnonzero(src == held_out))
    rest, held = sources.grouped_stratified_split(
        everything.split.select(pool), groups[pool], vargs.val_fraction, vargs.seed + 1
    )
    parts = {"train": train._take(everything, pool[rest]), "val": train._take(everything, pool[held])}
    keras.backend.clear_session()
    started = time.monotonic()
    cpu = os.times()
    model, history, _ = train.train_model(vargs, parts)
    vz = train.predict_logits(model, parts["val"].images, vargs.batch_size)
    tz = train.predict_logits(model, test.images, vargs.batch_size)
    vp, tp = train._sigmoid(vz), train._sigmoid(tz)
    val_labels, test_labels = np.asarray(parts["val"].split.labels), np.asarray(test.split.labels)
    threshold = threshold_for_worst_source(
        val_labels, vp, parts["val"].split.sources, vargs.target_sensitivity
    )
    m = binary_metrics(test_labels, tp, threshold)
    by_source = metrics_by_source(
        test_labels, tp, test.split.sources, threshold, sources.is_melanoma_or_benign(test.split)
    )
    # Test-time augmentation, measured only (not in the serving graph): the logits of the image,
    # its mirror image and its 90/180-degree rotations, averaged.
    views = [
        test.images[:, :, ::-1],
        np.rot90(test.images, 1, axes=(1, 2)),
        np.rot90(test.images, 2, axes=(1, 2)),
    ]
    tta = (
        tz + sum(train.predict_logits(model, np.ascontiguousarray(v), vargs.batch_size) for v in views)
    ) / 4
    after = os.times()
    row = {
        "variant": variant,
        "recipe": VARIANTS[variant],
        "train_source": sorted(set(parts["train"].split.sources)),
        "test_source": held_out,
        "n": m["n"],
        "n_malignant": m["n_malignant"],
        "auc": m["roc_auc"],
        "sensitivity": m["sensitivity"],
        "specificity": m["specificity"],
        "threshold": threshold,
        "melanoma_vs_benign_auc": by_source[held_out].get("melanoma_vs_benign_auc"),
        "ece": expected_calibration_error(test_labels, tp),
        "auc_tta4": binary_metrics(test_labels, train._sigmoid(tta), threshold)["roc_auc"],
        "seed": vargs.seed,
        "validation_auc_in_source": float(max(history.get("val_worst_source_auc", [float("nan")]))),
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": int(history.get("best_epoch", [0])[0]),
        "wall_seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(after.user + after.system - cpu.user - cpu.system, 1),
    }
    shown = {k: row[k] for k in ("auc", "sensitivity", "specificity", "melanoma_vs_benign_auc")}
    log.info("LOSO %s -> %s [%s]: %s", row["train_source"], held_out, variant, shown)
    return row


def _write(path: str, targs, rows: list[dict], report, skipped: int) -> dict:
    table = {
        "note": (
            "train on the other source(s), score every image of the held-out source; threshold and epoch "
            "chosen on a validation split of the training source(s) only"
        ),
        "settings": {
            "image_size": targs.image_size,
            "epochs": targs.epochs,
            "head_epochs": targs.head_epochs,
            "arch": targs.arch,
            "seed": targs.seed,
            "target_sensitivity": targs.target_sensitivity,
        },
        "deduplication": report.as_dict(),
        "skipped_unreadable": skipped,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(table, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.splitext(path)[0] + ".md", "w") as f:
        f.write(markdown(rows))
    return table


def markdown(rows: list[dict]) -> str:
    lines = [
        "| recipe | train on | test on (unseen) | n | ROC AUC | melanoma vs benign AUC "
        "| sensitivity | specificity | ECE |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = [r["variant"], " + ".join(r["train_source"]), r["test_source"], str(r["n"])]
        cells += [
            f"{r[k]:.3f}" for k in ("auc", "melanoma_vs_benign_auc", "sensitivity", "specificity", "ece")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args, targs = parse_args(argv)
    run(args, targs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
