"""Train a skin-lesion classifier and write the deployable artifact (SageMaker script mode).

The same command runs on a laptop and on SageMaker: every path defaults from the SM_*
variables the training container sets, and unknown arguments are ignored.

Local (from the repository root; the shipped default model is `make train-default-model`):
    W=../shared/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5
    python model_src/train.py --train ../shared/data/isic-dev --model-dir /tmp/model \\
        --arch mobilenet_v2 --weights $W \\
        --epochs 12 --head-epochs 3 --package /tmp/model.tar.gz

SageMaker (v3 SDK; source_dir=model_src, entry_script=train.py, channel "train" = benign/ + malignant/):
    hyperparameters={"arch": "mobilenet_v2", "weights": "imagenet", "epochs": 30, "head-epochs": 3}
    -> python train.py --arch mobilenet_v2 --weights imagenet --epochs 30 --head-epochs 3
       with SM_CHANNEL_TRAIN=/opt/ml/input/data/train, SM_MODEL_DIR=/opt/ml/model.
The original system's model:  --arch seed --weights none  (180 px, batch 16, Adam 1e-3).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

from lesion_model import data
from lesion_model.architectures import ARCHITECTURES, make_model
from lesion_model.augment import AUGMENTATIONS, make_augmentation
from lesion_model.distribute import is_chief, make_strategy, use_mixed_precision_if_gpu
from lesion_model.export import make_tarball, write_artifact_dir
from lesion_model.metadata import build_metadata, write_summary
from lesion_model.metrics import binary_metrics, roc_curve, threshold_for_sensitivity
from lesion_model.report import write_report
from lesion_model.training import FitConfig, fit, predict_scores

log = logging.getLogger("train")


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=env("SM_CHANNEL_TRAIN"), help="folder with benign/ and malignant/")
    p.add_argument("--validation", default=env("SM_CHANNEL_VALIDATION"), help="optional separate folder")
    p.add_argument("--model-dir", default=env("SM_MODEL_DIR", "model"), help="artifact layout goes here")
    p.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR"), help="report copy (optional)")
    p.add_argument("--package", help="also write a deterministic model.tar.gz to this path")
    p.add_argument("--metrics-out", help="also write a metrics summary (with this command) here")
    p.add_argument("--arch", default="mobilenet_v2", choices=sorted(ARCHITECTURES))
    p.add_argument("--weights", default="none", help="imagenet | none | PATH to .h5 (transfer models)")
    p.add_argument("--image-size", type=int, help="default: the architecture's (seed 180, mobilenet 224)")
    p.add_argument("--batch-size", type=int, help="default: the architecture's (seed 16)")
    p.add_argument("--learning-rate", type=float, help="default: the architecture's (1e-3)")
    p.add_argument("--dropout", type=float, help="default: the architecture's (seed 0.5)")
    p.add_argument("--epochs", type=int, default=10, help="total epochs, head phase included")
    p.add_argument("--head-epochs", type=int, default=0, help="transfer models: frozen-backbone epochs first")
    p.add_argument("--fine-tune-fraction", type=float, default=1.0, help="top share of backbone to unfreeze")
    p.add_argument("--fine-tune-lr-scale", type=float, default=0.1)
    p.add_argument("--augment", choices=AUGMENTATIONS, help="default: seed for seed, else dermoscopy")
    p.add_argument("--no-class-weights", action="store_true", help="train on the raw class balance")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--test-fraction", type=float, default=0.0, help="held back, scored once at the end")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--target-sensitivity", type=float, default=0.90)
    p.add_argument("--patience", type=int, default=0, help="early stopping on val AUC (0 = off)")
    p.add_argument(
        "--augment-on",
        choices=("auto", "pipeline", "model"),
        default="auto",
        help="where augmentation runs; auto: in the training step on GPU, in tf.data on CPU",
    )
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this wall-clock time")
    p.add_argument("--max-cpu-minutes", type=float, default=0.0, help="stop after this process CPU time")
    p.add_argument("--cache-dir", default="", help="spill the decoded-image cache here (default: RAM)")
    p.add_argument(
        "--checkpoint-dir", default="", help="back up each epoch here and resume from it (spot training)"
    )
    p.add_argument("--tensorboard-dir", default="", help="write TensorBoard event files here")
    p.add_argument("--source-revision", default=env("SKINLESION_SOURCE_REVISION"))
    args, unknown = p.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if unknown:
        logging.getLogger("train").info("ignoring unknown arguments: %s", unknown)
    if not args.train:
        p.error("--train (or SM_CHANNEL_TRAIN) is required")
    _fill_arch_defaults(args)
    return args


def _fill_arch_defaults(args: argparse.Namespace) -> None:
    defaults = ARCHITECTURES[args.arch]
    for name in ("image_size", "batch_size", "learning_rate", "dropout"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    if args.augment is None:
        args.augment = "seed" if args.arch == "seed" else "dermoscopy"


def make_splits(args) -> dict[str, data.Split]:
    """train / val (/ test): stratified, seeded; an explicit --validation folder wins over a split."""
    everything = data.list_folder_dataset(args.train)
    splits = {}
    if args.test_fraction > 0:
        everything, splits["test"] = data.stratified_split(everything, args.test_fraction, args.seed)
    if args.validation:
        splits["train"], splits["val"] = everything, data.list_folder_dataset(args.validation)
    else:
        # A different seed stream so the val split does not mirror the test split's picks.
        splits["train"], splits["val"] = data.stratified_split(everything, args.val_fraction, args.seed + 1)
    for name, split in splits.items():
        log.info("%s split: %d images %s", name, len(split), split.class_counts())
    return splits


def score(model, cached, batch_size, threshold=None, target=None):
    """Metrics for one cached split; the threshold comes from `target` only on validation."""
    labels, scores = predict_scores(model, data.eval_pipeline(cached, batch_size))
    if threshold is None:
        threshold = threshold_for_sensitivity(labels, scores, target)
    return binary_metrics(labels, scores, threshold), roc_curve(labels, scores)


def load_splits(args) -> tuple[dict, dict, int]:
    """Split, then decode every image once into a cache per split; returns (splits, cached, skipped)."""
    splits = make_splits(args)
    cached, skipped = {}, 0
    for name, split in splits.items():
        cache_file = os.path.join(args.cache_dir, f"{name}.cache") if args.cache_dir else ""
        cached[name], n = data.load_cached(split, args.image_size, cache_file)
        skipped += n
    return splits, cached, skipped


def fit_config(args) -> FitConfig:
    keys = (
        "epochs", "learning_rate", "head_epochs", "fine_tune_fraction", "fine_tune_lr_scale", "patience",
        "max_minutes", "max_cpu_minutes", "checkpoint_dir", "tensorboard_dir",
    )  # fmt: skip
    return FitConfig(**{k: getattr(args, k) for k in keys})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    mixed = use_mixed_precision_if_gpu()
    strategy = make_strategy()
    splits, cached, skipped = load_splits(args)
    augment = make_augmentation(args.augment, args.seed)
    # On a GPU augmentation runs in the training step, so the input pipeline never starves it.
    on_device = args.augment_on == "model" or (args.augment_on == "auto" and mixed)
    train_ds = data.training_pipeline(
        cached["train"], args.batch_size, None if on_device else augment, args.seed
    )
    val_ds = data.eval_pipeline(cached["val"], args.batch_size)
    weights = None if args.no_class_weights else data.class_weights(splits["train"].labels)
    log.info("class weights: %s; skipped images: %d; mixed precision: %s", weights, skipped, mixed)
    with strategy.scope():
        model = make_model(args.arch, args.image_size, args.weights, args.dropout)
    started = time.monotonic()
    history = fit(model, train_ds, val_ds, fit_config(args), weights, augment if on_device else None)
    train_seconds = time.monotonic() - started
    val_metrics, val_roc = score(model, cached["val"], args.batch_size, target=args.target_sensitivity)
    log.info("validation: %s", _summary(val_metrics))
    test_metrics = None
    if "test" in cached:  # scored once, with the validation threshold; nothing is chosen on it
        test_metrics, _ = score(model, cached["test"], args.batch_size, threshold=val_metrics["threshold"])
        log.info("held-back test (threshold from validation): %s", _summary(test_metrics))
    meta = build_metadata(args, splits, skipped, val_metrics, test_metrics, history, train_seconds)
    _write_outputs(args, model, meta, val_metrics, val_roc, history)
    return 0


def _write_outputs(args, model, meta, val_metrics, val_roc, history) -> None:
    model_dir = args.model_dir if is_chief() else tempfile.mkdtemp(prefix="worker-model-")
    report = {**val_metrics, "split": "validation"}
    write_report(os.path.join(model_dir, "report"), report, roc=val_roc, history=history)
    write_artifact_dir(model, args.image_size, model_dir, meta)
    if args.output_data_dir and is_chief():
        write_report(args.output_data_dir, report, roc=val_roc, history=history)
    if args.metrics_out and is_chief():
        write_summary(meta, args.metrics_out, " ".join(["python", "model_src/train.py", *args.argv]))
    if args.package and is_chief():
        make_tarball(model_dir, args.package)
        log.info("wrote %s (%.1f MB)", args.package, os.path.getsize(args.package) / 1e6)
    log.info("artifact layout in %s, version %s", model_dir, meta["version"])


def _summary(m: dict) -> str:
    return (
        f"AUC {m['roc_auc']:.4f}  PR-AUC {m['pr_auc']:.4f}  bal.acc {m['balanced_accuracy']:.4f}  "
        f"sens {m['sensitivity']:.3f}  spec {m['specificity']:.3f} @ {m['threshold']:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
