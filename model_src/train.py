"""Train a skin-lesion classifier and write the deployable artifact (SageMaker script mode).

The same command runs on a laptop and on SageMaker: every path defaults from the SM_*
variables the training container sets, and unknown arguments are ignored.

Local (from the repository root; the shipped default model is `make train-default-model`):
    W=../shared/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5
    python model_src/train.py --train ../shared/data/isic-dev,../shared/data/isic-2017 \\
        --model-dir /tmp/model --arch mobilenet_v2 --weights $W \\
        --epochs 12 --head-epochs 2 --package /tmp/model.tar.gz

--train takes one or more dataset roots (comma-separated); every image keeps its source
(labels.csv's `source` column, else the root's folder name). The default recipe (issue 13):
near duplicates dropped across sources before splitting, a diagnosis-level head trained on
each source's labels as they are meant, Shades-of-Grey colour constancy in the graph,
"domain" augmentation, source-and-class balanced sampling, model selection on the worst
source's validation AUC, a threshold that keeps every source's validation sensitivity at the
target, and temperature scaling when it lowers the calibration error.

SageMaker (v3 SDK; source_dir=model_src, entry_script=train.py, channel "train" = benign/ + malignant/):
    hyperparameters={"arch": "mobilenet_v2", "weights": "imagenet", "epochs": 30, "head-epochs": 3}
    -> python train.py --arch mobilenet_v2 --weights imagenet --epochs 30 --head-epochs 3
       with SM_CHANNEL_TRAIN=/opt/ml/input/data/train, SM_MODEL_DIR=/opt/ml/model.
The original system's model:  --arch seed --weights none  (180 px, batch 16, Adam 1e-3).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from lesion_model import data, pretrained, sources
from lesion_model.architectures import ARCHITECTURES, HEADS, make_model, set_temperature
from lesion_model.augment import AUGMENTATIONS, make_augmentation
from lesion_model.distribute import is_chief, make_strategy, use_mixed_precision_if_gpu
from lesion_model.export import make_tarball, write_artifact_dir
from lesion_model.metadata import build_metadata, write_summary
from lesion_model.metrics import (
    binary_metrics,
    expected_calibration_error,
    fit_temperature,
    metrics_by_source,
    reliability_bins,
    roc_curve,
    threshold_for_sensitivity,
    threshold_for_worst_source,
)
from lesion_model.report import write_report
from lesion_model.training import FitConfig, WorstSourceSelection, fit

log = logging.getLogger("train")


# Frozen with everything below it (ImageNet weights): the guard's features come from this layer,
# and leave-one-source-out scored this no worse than fine-tuning all of it (docs/model.md).
FREEZE_THROUGH_DEFAULT = "block_16_expand_relu"


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=env("SM_CHANNEL_TRAIN"), help="dataset root(s), comma-separated")
    p.add_argument("--validation", default=env("SM_CHANNEL_VALIDATION"), help="optional separate folder")
    p.add_argument("--model-dir", default=env("SM_MODEL_DIR", "model"), help="artifact layout goes here")
    p.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR"), help="report copy (optional)")
    p.add_argument("--package", help="also write a deterministic model.tar.gz to this path")
    p.add_argument("--metrics-out", help="also write a metrics summary (with this command) here")
    p.add_argument("--arch", default="mobilenet_v2", choices=sorted(ARCHITECTURES))
    p.add_argument("--weights", default="none", help="imagenet | none | PATH to .h5 (transfer models)")
    p.add_argument("--allow-unverified-weights", action="store_true", help="use weights of unknown sha256")
    p.add_argument("--image-size", type=int, help="default: the architecture's (seed 180, mobilenet 224)")
    p.add_argument("--batch-size", type=int, help="default: the architecture's (seed 16)")
    p.add_argument("--learning-rate", type=float, help="default: the architecture's (1e-3)")
    p.add_argument("--dropout", type=float, help="default: the architecture's (seed 0.5)")
    p.add_argument("--epochs", type=int, default=10, help="total epochs, head phase included")
    p.add_argument("--head-epochs", type=int, default=0, help="transfer models: frozen-backbone epochs first")
    p.add_argument("--fine-tune-fraction", type=float, default=1.0, help="top share of backbone to unfreeze")
    p.add_argument(
        "--freeze-through",
        help=f"backbone layer kept frozen with every layer below it (its ImageNet features feed the "
        f"guard); default for pretrained mobilenet_v2: {FREEZE_THROUGH_DEFAULT}; none: fine-tune all",
    )  # fmt: skip
    p.add_argument("--fine-tune-lr-scale", type=float, default=0.1)
    p.add_argument("--augment", choices=AUGMENTATIONS, help="default: seed for seed, else domain")
    p.add_argument("--head", choices=HEADS, default="diagnosis", help="diagnosis-level softmax or one logit")
    p.add_argument(
        "--colour-constancy", choices=("on", "off"), default="off",
        help="Shades of Grey inside the graph (off: it did not help leave-one-source-out, docs/model.md)",
    )  # fmt: skip
    p.add_argument(
        "--sampling", choices=("balanced", "shuffle"), default="balanced",
        help="balanced: equal draws per source x class; shuffle: every image once (class weights)",
    )  # fmt: skip
    p.add_argument("--no-class-weights", action="store_true", help="train on the raw class balance")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--test-fraction", type=float, default=0.0, help="held back, scored once at the end")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--target-sensitivity", type=float, default=0.90, help="for the worst source")
    p.add_argument("--calibrate", choices=("auto", "off"), default="auto", help="temperature scaling")
    p.add_argument("--dedup-distance", type=int, default=6, help="pHash bits; -1 turns dedup off")
    p.add_argument("--dedup-correlation", type=float, default=0.93)
    p.add_argument("--patience", type=int, default=0, help="early stopping on worst-source val AUC (0 = off)")
    p.add_argument(
        "--augment-on",
        choices=("auto", "pipeline", "model"),
        default="auto",
        help="where augmentation runs; auto: in the training step on GPU, in tf.data on CPU",
    )
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this wall-clock time")
    p.add_argument("--max-cpu-minutes", type=float, default=0.0, help="stop after this process CPU time")
    p.add_argument("--cache-dir", default="", help="unused since issue 13 (images are decoded once into RAM)")
    p.add_argument(
        "--checkpoint-dir", default="", help="back up each epoch here and resume from it (spot training)"
    )
    p.add_argument("--tensorboard-dir", default="", help="write TensorBoard event files here")
    p.add_argument("--loso-table", default="", help="leave-one-source-out JSON (model_src/loso.py) to embed")
    p.add_argument(
        "--guard", choices=("on", "off"), default="on", help="fit the not-a-lesion guard (issue 14)"
    )
    p.add_argument(
        "--guard-negatives", default="default",
        help="features of non-lesion photos for the guard (.npz from model_src/guard_negatives.py); "
        "default: the packaged file; none: lesion-only guard",
    )  # fmt: skip
    p.add_argument(
        "--guard-clinical", default="default",
        help="the guard's pre-fitted lesions-vs-clinical-photographs part (.npz from "
        "model_src/guard_clinical.py); default: the packaged file; none: leave it out",
    )  # fmt: skip
    p.add_argument(
        "--guard-margin", type=float, default=None,
        help="standard deviations of validation z added to the guard's threshold (default 0.5: "
        "docs/model.md has what a larger one gains on unseen clinics and loses on clinical photos)",
    )  # fmt: skip
    p.add_argument("--source-revision", default=env("SKINLESION_SOURCE_REVISION"))
    args, unknown = p.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if unknown:
        logging.getLogger("train").info("ignoring unknown arguments: %s", unknown)
    if not args.train:
        p.error("--train (or SM_CHANNEL_TRAIN) is required")
    _fill_arch_defaults(args)
    args.pretrained = pretrained.check(args.weights, allow_unverified=args.allow_unverified_weights)
    return args


def _fill_arch_defaults(args: argparse.Namespace) -> None:
    defaults = ARCHITECTURES[args.arch]
    for name in ("image_size", "batch_size", "learning_rate", "dropout"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    if args.augment is None:
        args.augment = "seed" if args.arch == "seed" else "domain"
    if args.freeze_through is None:
        pretrained_backbone = args.arch == "mobilenet_v2" and args.weights not in (None, "", "none")
        args.freeze_through = FREEZE_THROUGH_DEFAULT if pretrained_backbone else ""
    elif args.freeze_through == "none":
        args.freeze_through = ""


@dataclass
class Part:
    """One split, decoded: its Split (paths, labels, sources, diagnoses) and uint8 images in that order."""

    split: sources.Split
    images: np.ndarray

    def targets(self, head: str) -> np.ndarray:
        if head == "diagnosis":
            return sources.diagnosis_masks(self.split)
        return np.asarray(self.split.labels, dtype=np.int64)


def decode_split(split: sources.Split, image_size: int) -> tuple[Part, int]:
    images, ok = data.decode_images(split.paths, image_size)
    skipped = len(split) - len(ok)
    if skipped:
        log.warning("skipped %d of %d unreadable or undecodable images", skipped, len(split))
    return Part(split.select(ok), images), skipped


def load_parts(args) -> tuple[dict[str, Part], dict]:
    """Decode everything once, drop duplicates, then split by (source, class) keeping duplicate
    groups together; returns ({train, val[, test]}: Part, dataset facts for metadata)."""
    everything, skipped = decode_split(sources.list_datasets(args.train), args.image_size)
    facts: dict = {"skipped_unreadable": skipped}
    if args.dedup_distance >= 0:
        report = sources.deduplicate(
            everything.split,
            sources.fingerprints(everything.images),
            args.dedup_distance,
            args.dedup_correlation,
        )
        facts["deduplication"] = report.as_dict()
        log.info("deduplication: %s", facts["deduplication"])
        everything = Part(everything.split.select(report.kept), everything.images[report.kept])
        groups = report.groups
    else:
        groups = np.arange(len(everything.split))
    parts: dict[str, Part] = {}
    pool = np.arange(len(everything.split))
    if args.test_fraction > 0:
        rest, held = sources.grouped_stratified_split(everything.split, groups, args.test_fraction, args.seed)
        parts["test"] = _take(everything, held)
        pool = rest
    if args.validation:
        parts["val"], n = decode_split(sources.list_datasets(args.validation), args.image_size)
        facts["skipped_unreadable"] += n
        parts["train"] = _take(everything, pool)
    else:
        sub = everything.split.select(pool)
        # A different seed stream so the val split does not mirror the test split's picks.
        rest, held = sources.grouped_stratified_split(sub, groups[pool], args.val_fraction, args.seed + 1)
        parts["train"], parts["val"] = _take(everything, pool[rest]), _take(everything, pool[held])
    for name, part in parts.items():
        log.info("%s split: %d images %s", name, len(part.split), sources.stratum_counts(part.split))
    return parts, facts


def _take(part: Part, index: np.ndarray) -> Part:
    return Part(part.split.select(index), part.images[index])


def train_model(args, parts: dict[str, Part], strategy=None, mixed: bool = False):
    """Build, fit (selection on the worst source's validation AUC) and return (model, history, seconds)."""
    augment = make_augmentation(args.augment, args.seed)
    # On a GPU augmentation runs in the training step, so the input pipeline never starves it.
    on_device = args.augment_on == "model" or (args.augment_on == "auto" and mixed)
    train = parts["train"]
    targets = train.targets(args.head)
    pipeline_augment = None if on_device else augment
    weights = None
    if args.sampling == "balanced":
        strata = np.asarray(
            [f"{s}/{y}" for s, y in zip(train.split.sources, train.split.labels, strict=True)]
        )
        train_ds = data.balanced_pipeline(
            train.images, targets, strata, args.batch_size, pipeline_augment, args.seed
        )
    else:
        train_ds = data.shuffled_pipeline(train.images, targets, args.batch_size, pipeline_augment, args.seed)
        if not args.no_class_weights and args.head == "binary":
            weights = data.class_weights(train.split.labels)
    log.info("sampling %s; class weights %s; mixed precision %s", args.sampling, weights, mixed)
    with strategy.scope() if strategy is not None else _nullcontext():
        model = make_model(
            args.arch, args.image_size, args.weights, args.dropout,
            head=args.head, colour_constancy=args.colour_constancy == "on",
        )  # fmt: skip
    val = parts["val"]
    selector = WorstSourceSelection(
        model, val.images, val.split.labels, val.split.sources, args.batch_size, args.patience
    )
    started = time.monotonic()
    history = fit(model, train_ds, None, fit_config(args), weights, augment if on_device else None, selector)
    return model, history, time.monotonic() - started


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def predict_logits(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    ds = data.array_eval_pipeline(images, batch_size)
    return np.concatenate([np.reshape(model(x, training=False).numpy(), [-1]) for x in ds])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def calibrate_and_threshold(args, model, parts: dict[str, Part]) -> tuple[dict, dict[str, np.ndarray]]:
    """Temperature scaling (kept only if it lowers validation ECE), then the worst-source threshold.

    Returns (calibration facts, p_malignant per split after calibration).
    """
    scored = {name: part for name, part in parts.items() if name != "train"}  # train is not needed
    logits = {name: predict_logits(model, part.images, args.batch_size) for name, part in scored.items()}
    val_labels = np.asarray(parts["val"].split.labels)
    ece_before = expected_calibration_error(val_labels, _sigmoid(logits["val"]))
    temperature = fit_temperature(val_labels, logits["val"])
    ece_after = expected_calibration_error(val_labels, _sigmoid(logits["val"] / temperature))
    apply = args.calibrate == "auto" and ece_after < ece_before
    facts = {
        "method": "temperature scaling on validation logits (kept only if validation ECE drops)",
        "fitted_temperature": temperature,
        "applied_temperature": temperature if apply else 1.0,
        "ece_bins": 10,
        "validation_ece_before": ece_before,
        "validation_ece_after": ece_after,
    }
    if "test" in parts:
        test_labels = np.asarray(parts["test"].split.labels)
        facts["test_ece_before"] = expected_calibration_error(test_labels, _sigmoid(logits["test"]))
        facts["test_ece_after"] = expected_calibration_error(
            test_labels, _sigmoid(logits["test"] / temperature)
        )
    if apply:
        set_temperature(model, temperature)
        logits = {name: z / temperature for name, z in logits.items()}
    log.info("calibration: %s", facts)
    probabilities = {name: _sigmoid(z) for name, z in logits.items()}
    facts["reliability_validation"] = reliability_bins(val_labels, probabilities["val"])
    return facts, probabilities


def split_metrics(part: Part, p: np.ndarray, threshold: float) -> tuple[dict, dict]:
    """(pooled binary metrics, metrics_by_source) for one split at one threshold."""
    labels = np.asarray(part.split.labels)
    pooled = binary_metrics(labels, p, threshold)
    by_source = metrics_by_source(
        labels, p, part.split.sources, threshold, sources.is_melanoma_or_benign(part.split)
    )
    return pooled, by_source


def fit_config(args) -> FitConfig:
    keys = (
        "epochs", "learning_rate", "head_epochs", "fine_tune_fraction", "freeze_through",
        "fine_tune_lr_scale", "patience", "max_minutes", "max_cpu_minutes", "checkpoint_dir",
        "tensorboard_dir",
    )  # fmt: skip
    return FitConfig(**{k: getattr(args, k) for k in keys})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    mixed = use_mixed_precision_if_gpu()
    strategy = make_strategy()
    parts, facts = load_parts(args)
    model, history, train_seconds = train_model(args, parts, strategy, mixed)
    calibration, p = calibrate_and_threshold(args, model, parts)
    val = parts["val"]
    val_labels = np.asarray(val.split.labels)
    threshold = threshold_for_worst_source(val_labels, p["val"], val.split.sources, args.target_sensitivity)
    pooled_threshold = threshold_for_sensitivity(val_labels, p["val"], args.target_sensitivity)
    val_metrics, val_by_source = split_metrics(val, p["val"], threshold)
    log.info("validation: %s", _summary(val_metrics))
    log.info("validation by source: %s", val_by_source)
    test_metrics = test_by_source = None
    if "test" in parts:  # scored once, with the validation threshold; nothing is chosen on it
        test_metrics, test_by_source = split_metrics(parts["test"], p["test"], threshold)
        log.info("held-back test (threshold from validation): %s", _summary(test_metrics))
        log.info("held-back test by source: %s", test_by_source)
    split_counts = {name: part.split.class_counts() for name, part in parts.items()}
    meta = build_metadata(args, split_counts, facts["skipped_unreadable"], val_metrics, test_metrics, history,
                          train_seconds)  # fmt: skip
    meta["threshold_rule"] = (
        f"highest threshold at which every source keeps validation sensitivity >= {args.target_sensitivity}"
        f" (pooled rule would give {pooled_threshold:.4f})"
    )
    meta["metrics_by_source"] = test_by_source if test_by_source is not None else val_by_source
    meta["metrics_by_source_split"] = "test" if test_by_source is not None else "validation"
    meta["validation_metrics_by_source"] = val_by_source
    if test_by_source is not None:
        meta["test_metrics_by_source"] = test_by_source
    meta["calibration"] = {k: v for k, v in calibration.items() if k != "reliability_validation"}
    meta["dataset"].update(
        sources={name: part.split.source_counts() for name, part in parts.items()},
        **{k: v for k, v in facts.items() if k != "skipped_unreadable"},
    )
    recipe = (
        "head",
        "colour_constancy",
        "augment",
        "sampling",
        "freeze_through",
        "calibrate",
        "dedup_distance",
        "dedup_correlation",
    )
    meta["training"]["recipe"] = {k: getattr(args, k) for k in recipe}
    meta["training"]["selection"] = "best epoch by the worst source's validation ROC AUC"
    loso = _leave_one_source_out_table(args)
    if loso is not None:
        meta["leave_one_source_out"] = loso
    guard = _fit_guard(args, model, parts)
    if guard is not None:
        meta["guard"] = guard.metadata()
    roc = roc_curve(val_labels, p["val"])
    _write_outputs(args, model, meta, val_metrics, roc, history, calibration, guard)
    return 0


def _leave_one_source_out_table(args) -> dict | None:
    """The LOSO table `make loso-table` wrote (model_src/loso.py): its rows measured with this
    run's recipe (all rows if none match), with the settings they were measured with."""
    path = args.loso_table
    if not path:
        return None
    if not os.path.isfile(path):
        log.warning("--loso-table %s does not exist: metadata gets no leave-one-source-out table", path)
        return None
    with open(path) as f:
        table = json.load(f)
    keys = ("head", "colour_constancy", "augment", "sampling", "freeze_through")
    recipe = {k: getattr(args, k) for k in keys}
    rows = table.get("rows", [])
    # Rows measured before --freeze-through existed fine-tuned the whole backbone.
    same = [row for row in rows if {"freeze_through": "", **row.get("recipe", {})} == recipe]
    return {
        "note": table.get("note", ""),
        "settings": table.get("settings", {}),
        "recipe_rows": "this model's recipe" if same else "every recipe measured (none matched this run's)",
        "rows": same or rows,
    }


def _fit_guard(args, model, parts: dict[str, Part]):
    if args.guard == "off":
        return None
    try:
        from lesion_model import guard as g
    except ImportError:
        log.warning("lesion_model.guard is not available: the artifact has no not-a-lesion guard")
        return None
    negatives = _guard_negatives(args, model, g)
    margin = {"margin": args.guard_margin} if args.guard_margin is not None else {}
    if negatives is not None:
        # The guard with negatives (docs/model.md "The not-a-lesion guard"): the frozen ImageNet
        # layer's features, lesions against photographs and against degraded lesion photos.
        clinical = _guard_clinical(args, model, g, negatives["layer"])
        guard = g.fit_guard_with_negatives(
            model, parts["train"].images, parts["val"].images, negatives["parts"],
            val_sources=parts["val"].split.sources, batch_size=args.batch_size,
            backbone_layer=negatives["layer"], seed=args.seed,
            clinical=clinical["part"] if clinical else None,
            **margin,
        )  # fmt: skip
        guard.info["negatives"] = {k: negatives["info"].get(k) for k in ("source", "half", "weights_sha256")}
        if clinical:
            guard.info["clinical"] = {
                k: clinical["info"].get(k)
                for k in ("source", "half", "n_photographs", "n_conditions", "positives", "weights_sha256")
            }
            guard.info["clinical"]["held_out_lesions_it_was_fitted_on"] = _clinical_overlap(
                g, clinical, parts
            )
    else:
        # Lesions only: the backbone layer guard.DEFAULT_BACKBONE_LAYER when the model has it
        # (MobileNetV2), else the top pooled features.
        layer = g.default_backbone_layer(model)
        guard = g.fit_guard(
            model,
            parts["train"].images,
            parts["val"].images,
            batch_size=args.batch_size,
            backbone_layer=layer,
            **margin,
        )
    log.info("guard: %s", guard.summary())
    return guard


def _clinical_overlap(g, clinical: dict, parts: dict[str, Part]) -> dict | str:
    """How many of this run's validation (and test) lesions the pre-fitted clinical part was fitted
    on: they set the guard's threshold (and measure it), and a part that has seen them scores them
    too well, so the threshold comes out low. 0 for the default split (guard_clinical.py fits on
    its training split); "unknown" for a file that does not list its lesions."""
    if clinical.get("positives") is None:
        return "unknown"
    # By file name, whatever the source folder: ISIC ids are unique across the ISIC Archive, so an
    # image the SageMaker import brings from the archive is recognised under any source name.
    seen = {i.rsplit("/", 1)[-1] for i in clinical["positives"]}
    found = {
        name: sum(os.path.basename(path) in seen for path in parts[name].split.paths)
        for name in ("val", "test")
        if name in parts
    }
    if any(found.values()):
        log.warning(
            "guard: the clinical part was fitted on %s of this run's held-out lesions: the guard's "
            "threshold comes out low (make guard-clinical with this run's --seed and fractions)", found,
        )  # fmt: skip
    return found


def _packaged(choice: str, packaged: str) -> str | None:
    """A --guard-negatives / --guard-clinical value as a path: "default" the packaged file, "none" None."""
    return None if choice == "none" else packaged if choice == "default" else choice


def _guard_clinical(args, model, g, layer: str) -> dict | None:
    """The pre-fitted clinical part (model_src/guard_clinical.py) when it reads `layer` and this
    model computes that layer as when it was fitted (the probe agrees); else None, with a warning."""
    path = _packaged(args.guard_clinical, g.CLINICAL_FILE)
    if path is None:
        return None
    clinical = g.load_clinical(path, args.image_size)
    if clinical is None:
        log.warning("guard: no clinical part for %d px in %s: guard without it", args.image_size, path)
        return None
    if clinical["layer"] != layer or not g.negatives_match(model, clinical, args.image_size):
        log.warning("guard: the clinical part was fitted on another layer or weights: guard without it")
        return None
    return clinical


def _guard_negatives(args, model, g) -> dict | None:
    """The photo negatives' features, when this model can use them: its backbone is frozen
    through all their layers (--freeze-through) and computes those layers exactly as when they
    were made (a probe image's features agree). Otherwise None: the lesion-only guard."""
    path = _packaged(args.guard_negatives, g.NEGATIVES_FILE)
    if path is None:
        return None
    negatives = g.load_negatives(path, args.image_size)
    if negatives is None:
        log.warning("guard: no negatives for %d px in %s: lesion-only guard", args.image_size, path)
        return None
    try:
        names = [layer.name for layer in model.get_layer(g.BACKBONE_NAME).layers]
    except ValueError:
        return None
    layers = g.backbone_layers(negatives["layer"])
    frozen = args.freeze_through in names and all(
        name in names and names.index(name) <= names.index(args.freeze_through) for name in layers
    )
    if not frozen:
        log.warning("guard: %s is fine-tuned (--freeze-through): lesion-only guard", negatives["layer"])
        return None
    if not g.negatives_match(model, negatives, args.image_size):
        log.warning("guard: the negatives were made with other weights or preprocessing: lesion-only guard")
        return None
    return negatives


def _write_outputs(args, model, meta, val_metrics, val_roc, history, calibration, guard) -> None:
    model_dir = args.model_dir if is_chief() else tempfile.mkdtemp(prefix="worker-model-")
    report = {**val_metrics, "split": "validation", "by_source": meta["validation_metrics_by_source"],
              "calibration": calibration}  # fmt: skip
    report_dir = os.path.join(model_dir, "report")
    write_report(
        report_dir, report, roc=val_roc, history=history, reliability=calibration["reliability_validation"]
    )
    extra = {"guard": guard} if guard is not None else {}
    write_artifact_dir(model, args.image_size, model_dir, meta, **extra)
    if args.output_data_dir and is_chief():
        write_report(args.output_data_dir, report, roc=val_roc, history=history,
                     reliability=calibration["reliability_validation"])  # fmt: skip
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
