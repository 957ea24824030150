"""Quality: the seed architecture vs ours, same isic-dev split, same CPU-time budget.

Both run model_src/train.py with the same seeded stratified split (15 % held-back test,
20 % of the rest validation) and stop at the first epoch end past the same budget of
process CPU time. Validation metrics are where each threshold was chosen (target
sensitivity 0.90); the test rows use that threshold on images neither run ever saw.
    .venv/bin/python bench/model_quality.py [--cpu-minutes 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from model_common import DATA, REPO, WEIGHTS, machine, require_shared, write_section

WORK = os.path.join(REPO, ".work", "bench-quality")
SPLIT = ["--test-fraction", "0.15", "--val-fraction", "0.2", "--seed", "1337"]
RUNS = {
    "seed (mini-Xception from scratch, 180 px, b16, Adam 1e-3, flip+rotate)": [
        "--arch", "seed", "--weights", "none", "--epochs", "100",
    ],
    "ours (MobileNetV2-0.35 ImageNet, 224 px, head then fine-tune, dermoscopy aug)": [
        "--arch", "mobilenet_v2", "--weights", WEIGHTS, "--epochs", "18", "--head-epochs", "2",
        "--fine-tune-lr-scale", "0.3",
    ],
}  # fmt: skip


def run_all(cpu_minutes: float) -> dict:
    """Train both at once: they share the machine's contention alike; the budget is CPU time."""
    os.makedirs(WORK, exist_ok=True)
    procs = {}
    for name, flags in RUNS.items():
        model_dir = os.path.join(WORK, "seed" if name.startswith("seed") else "ours")
        cmd = [
            sys.executable, os.path.join(REPO, "model_src", "train.py"), "--train", DATA,
            "--model-dir", model_dir, "--max-cpu-minutes", str(cpu_minutes), *SPLIT, *flags,
        ]  # fmt: skip
        log = open(model_dir + ".log", "w")  # noqa: SIM115 - closed after the process ends
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, model_dir)
    results = {}
    for name, (proc, log, model_dir) in procs.items():
        code = proc.wait()
        log.close()
        if code:
            raise SystemExit(f"{name}: train.py failed ({code}); see {model_dir}.log")
        with open(os.path.join(model_dir, "metadata.json")) as f:
            results[name] = json.load(f)
    return results


def row(name: str, split: str, m: dict, meta: dict) -> str:
    epochs = meta["training"]["epochs_run"]
    return (
        f"| {name} | {split} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} | {m['balanced_accuracy']:.3f} "
        f"| {m['sensitivity']:.3f} | {m['specificity']:.3f} | {epochs} | {meta['training']['seconds']:.0f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cpu-minutes", type=float, default=6.0)
    args = p.parse_args()
    require_shared()
    header = machine()
    results = run_all(args.cpu_minutes)
    lines = [
        "| model | split | ROC AUC | PR AUC | balanced acc. | sensitivity | specificity | epochs | wall s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, meta in results.items():
        lines.append(
            row(name, f"validation (n={meta['validation_metrics']['n']})", meta["validation_metrics"], meta)
        )
        lines.append(row(name, f"test (n={meta['test_metrics']['n']})", meta["test_metrics"], meta))
    seed, ours = results.values()
    gain = ours["validation_metrics"]["roc_auc"] - seed["validation_metrics"]["roc_auc"]
    gain_test = ours["test_metrics"]["roc_auc"] - seed["test_metrics"]["roc_auc"]
    body = f"""Command: `.venv/bin/python bench/model_quality.py --cpu-minutes {args.cpu_minutes:g}`
Machine: {header}. Budget: {args.cpu_minutes:g} CPU-minutes of training per model (process CPU time,
checked at epoch ends, so each may overrun by up to one epoch); isic-dev, 2,000 images, one
seeded stratified split (train {ours["dataset"]["splits"]["train"]}, validation
{ours["dataset"]["splits"]["val"]}, test {ours["dataset"]["splits"]["test"]}).
Sensitivity/specificity at the threshold each model chose on validation for 0.90 sensitivity.

{chr(10).join(lines)}

AUC gain ours - seed: {gain:+.3f} on validation, {gain_test:+.3f} on the held-back test part.
Equal CPU time means fewer epochs for the seed: each of its images costs about 5x ours (see the
throughput section), and from scratch it needs many epochs, while ours starts from ImageNet features.
"""
    print(body)
    write_section("Model: quality (issue 3)", body)


if __name__ == "__main__":
    main()
