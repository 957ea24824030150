"""Compile and fit a model: one phase for `seed`, head-then-fine-tune for transfer models."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from lesion_model.architectures import BACKBONE_NAME, diagnosis_model, set_backbone_trainable
from lesion_model.metrics import roc_auc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings (the CLI flags of train.py)."""

    epochs: int
    learning_rate: float
    head_epochs: int = 0  # transfer models: epochs with a frozen backbone first
    fine_tune_fraction: float = 1.0  # top fraction of backbone layers unfrozen afterwards
    freeze_through: str = ""  # a backbone layer kept frozen with all below it ("" = none)
    fine_tune_lr_scale: float = 0.1
    patience: int = 0  # 0 = no early stopping; else restore the best val AUC
    max_minutes: float = 0.0  # 0 = no wall-clock budget
    max_cpu_minutes: float = 0.0  # 0 = no budget in process CPU time (fair on a shared machine)
    # SageMaker syncs these folders to S3 (CheckpointConfig, TensorBoardOutputConfig): a spot
    # interruption resumes from the last finished epoch instead of epoch 1. "" = off.
    checkpoint_dir: str = ""
    tensorboard_dir: str = ""


class TimeBudget(keras.callbacks.Callback):
    """Stop at the end of the epoch that crosses a wall-clock or process-CPU deadline."""

    def __init__(self, deadline: float, cpu_deadline: float):
        super().__init__()
        self.deadline, self.cpu_deadline = deadline, cpu_deadline

    def on_epoch_end(self, epoch, logs=None):
        if _over_budget(self.deadline, self.cpu_deadline):
            log.info("time budget reached after epoch %d", epoch + 1)
            self.model.stop_training = True


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _over_budget(deadline: float, cpu_deadline: float) -> bool:
    return time.monotonic() >= deadline or _cpu_seconds() >= cpu_deadline


def partial_label_loss(allowed, logits):
    """-log P(diagnosis in the allowed set): each image's label is the SET of diagnoses it allows
    (1 for melanoma only; naevus-or-keratosis; every benign diagnosis for a bare "benign")."""
    allowed = tf.cast(allowed, logits.dtype)
    very_negative = tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype))
    inside = tf.reduce_logsumexp(tf.where(allowed > 0, logits, very_negative), axis=-1)
    return tf.reduce_logsumexp(logits, axis=-1) - inside


def compile_model(model: keras.Model, learning_rate, diagnosis_targets: bool = False) -> None:
    if diagnosis_targets:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=partial_label_loss)
        return
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.AUC(from_logits=True, name="auc"),
            keras.metrics.BinaryAccuracy(threshold=0.0),
        ],
    )


class WorstSourceSelection(keras.callbacks.Callback):
    """Model selection and early stopping on the WORST source's validation ROC AUC.

    After every epoch it scores the validation images with `model` (the one-logit model),
    computes the AUC per source, and keeps the weights of the epoch whose lowest AUC is
    the highest; `restore_best()` puts them back. Patience counts epochs without a new best.
    """

    def __init__(self, model, images: np.ndarray, labels, sources, batch_size: int, patience: int = 0):
        super().__init__()
        self.scored_model = model
        self.images, self.batch_size, self.patience = images, batch_size, patience
        self.labels, self.sources = np.asarray(labels), np.asarray(sources)
        self.best, self.best_weights, self.best_epoch, self.wait, self.epoch = -1.0, None, 0, 0, 0
        self.history: dict[str, list[float]] = {}

    def scores(self) -> np.ndarray:
        out = []
        for start in range(0, len(self.images), self.batch_size):
            batch = tf.cast(self.images[start : start + self.batch_size], tf.float32)
            out.append(tf.reshape(self.scored_model(batch, training=False), [-1]).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def on_train_begin(self, logs=None):
        self.wait = 0  # a new phase starts counting afresh

    def on_epoch_end(self, epoch, logs=None):
        self.epoch += 1
        s = self.scores()
        per_source = {}
        for name in sorted(set(self.sources.tolist())):
            sel = self.sources == name
            if 0 < self.labels[sel].sum() < sel.sum():
                per_source[name] = roc_auc(self.labels[sel], s[sel])
        worst = min(per_source.values()) if per_source else float("nan")
        self.history.setdefault("val_worst_source_auc", []).append(worst)
        for name, auc in per_source.items():
            self.history.setdefault(f"val_auc_{name}", []).append(auc)
        log.info("epoch %d: validation AUC per source %s, worst %.4f",
                 self.epoch, {k: round(v, 4) for k, v in per_source.items()}, worst)  # fmt: skip
        if worst > self.best:
            self.best, self.best_epoch, self.wait = worst, self.epoch, 0
            self.best_weights = [w.numpy().copy() for w in self.scored_model.weights]
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience:
                log.info("no better worst-source AUC for %d epochs: stopping", self.wait)
                self.model.stop_training = True

    def restore_best(self) -> None:
        if self.best_weights is not None:
            for variable, value in zip(self.scored_model.weights, self.best_weights, strict=True):
                variable.assign(value)
            log.info("restored epoch %d (worst-source validation AUC %.4f)", self.best_epoch, self.best)


def fit(model, train_ds, val_ds, config: FitConfig, class_weight=None, augment=None, selector=None) -> dict:
    """Train in place; returns the merged per-epoch history of all phases.

    `augment`: layers to run inside the training step (on the accelerator) instead of in
    the input pipeline; they wrap the model only for fitting, so the export stays clean.
    Targets of shape [N, len(DIAGNOSES)] (allowed-diagnosis masks) train the diagnosis head
    with the partial-label loss; [N] targets train the malignant logit with cross-entropy.
    `selector`: a WorstSourceSelection; it replaces Keras' val_auc early stopping, and the
    best epoch it saw is restored at the end. val_ds may then be None.
    """
    deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes else math.inf
    cpu_deadline = _cpu_seconds() + config.max_cpu_minutes * 60 if config.max_cpu_minutes else math.inf
    diagnosis_targets = len(train_ds.element_spec[1].shape) == 2
    base = model
    if diagnosis_targets:
        base = diagnosis_model(model)
        if base is None:
            raise ValueError("diagnosis targets need a model built with head='diagnosis'")
    trainer = _with_augmentation(base, augment) if augment is not None else base
    has_backbone = any(layer.name == BACKBONE_NAME for layer in model.layers)
    phases = []
    if has_backbone and config.head_epochs > 0:
        phases.append(("head", 0.0, config.learning_rate, config.head_epochs))
    if has_backbone:
        lr = config.learning_rate * (config.fine_tune_lr_scale if config.head_epochs > 0 else 1.0)
        phases.append(("fine-tune", config.fine_tune_fraction, lr, config.epochs - config.head_epochs))
    else:
        phases.append(("train", None, config.learning_rate, config.epochs))
    history: dict[str, list[float]] = {}
    for name, fraction, lr, epochs in phases:
        if epochs <= 0 or _over_budget(deadline, cpu_deadline):
            continue
        if fraction is not None:
            n = set_backbone_trainable(model, fraction, config.freeze_through)
            log.info("phase %s: %d trainable backbone layers, lr %.2g, %d epochs", name, n, lr, epochs)
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * _steps(train_ds)))
        compile_model(trainer, schedule, diagnosis_targets)
        callbacks = _callbacks(config, deadline, cpu_deadline, name, early_stopping=selector is None)
        result = trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            class_weight=None if diagnosis_targets else class_weight,
            callbacks=callbacks + ([selector] if selector is not None else []),
            verbose=2,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    if selector is not None:
        history.update({k: list(v) for k, v in selector.history.items()})
        selector.restore_best()
        history["best_epoch"] = [float(selector.best_epoch)]
    return history


def _steps(ds) -> int:
    n = int(tf.data.experimental.cardinality(ds))
    return n if n > 0 else 100


def _with_augmentation(model: keras.Model, augment) -> keras.Model:
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    return keras.Model(inputs, model(augment(inputs)), name=f"{model.name}_augmented")


def _callbacks(
    config: FitConfig, deadline: float, cpu_deadline: float, phase: str, early_stopping: bool = True
) -> list:
    callbacks: list = [TimeBudget(deadline, cpu_deadline)]
    if config.checkpoint_dir:
        # One backup per phase, kept when the phase ends: after a restart a finished phase
        # restores its last epoch and trains no more, an interrupted one resumes where it was
        # (weights, optimizer and learning-rate schedule step included).
        callbacks.insert(
            0,
            keras.callbacks.BackupAndRestore(
                os.path.join(config.checkpoint_dir, phase), delete_checkpoint=False
            ),
        )
    if config.tensorboard_dir and _tensorboard_installed():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.tensorboard_dir, phase)))
    if config.patience and early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_auc", mode="max", patience=config.patience, restore_best_weights=True
            )
        )
    return callbacks


def _tensorboard_installed() -> bool:
    """tf.summary needs the `tensorboard` package, which TF 2.21 no longer pulls in."""
    if importlib.util.find_spec("tensorboard") is not None:
        return True
    log.warning("tensorboard is not installed: no TensorBoard events are written")
    return False


def predict_scores(model: keras.Model, ds) -> tuple[np.ndarray, np.ndarray]:
    """(labels, p_malignant) for a labelled, batched dataset, in dataset order."""
    labels, scores = [], []
    for images, y in ds:
        logits = model(images, training=False)
        scores.append(tf.sigmoid(tf.cast(tf.reshape(logits, [-1]), tf.float32)).numpy())
        labels.append(y.numpy())
    return np.concatenate(labels), np.concatenate(scores)
