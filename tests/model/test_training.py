"""fit(): augmentation inside the training step (GPU mode) and the CPU-time budget."""

from __future__ import annotations

import importlib.util

import numpy as np
import tensorflow as tf
from lesion_model.architectures import make_model
from lesion_model.augment import make_augmentation
from lesion_model.training import FitConfig, fit


def tiny_ds(n: int = 16, size: int = 32) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = np.arange(n) % 2
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def test_on_device_augmentation_trains_the_model_but_stays_out_of_it():
    model = make_model("mobilenet_v2", 32, weights="none")
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = fit(model, tiny_ds(), tiny_ds(), FitConfig(epochs=1, learning_rate=1e-2),
                  augment=make_augmentation("dermoscopy", 0))  # fmt: skip
    assert len(history["loss"]) == 1
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights, strict=True))
    assert not any(layer.name.startswith("augment") for layer in model.layers)


def test_cpu_budget_stops_after_the_first_epoch():
    model = make_model("mobilenet_v2", 32, weights="none")
    config = FitConfig(epochs=5, learning_rate=1e-3, max_cpu_minutes=1e-6)
    assert len(fit(model, tiny_ds(), tiny_ds(), config)["loss"]) == 1


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    # GIVEN a run that stopped after 1 of 3 epochs (a spot interruption: the CPU budget here)
    checkpoints, events = tmp_path / "checkpoints", tmp_path / "tensorboard"
    config = FitConfig(epochs=3, learning_rate=1e-3, checkpoint_dir=str(checkpoints),
                       tensorboard_dir=str(events), max_cpu_minutes=1e-6)  # fmt: skip
    first = fit(make_model("seed", 32, weights="none"), tiny_ds(), tiny_ds(), config)
    assert len(first["loss"]) == 1
    # WHEN the job restarts in a new process (a fresh model) with the synced checkpoint folder
    resumed = fit(
        make_model("seed", 32, weights="none"),
        tiny_ds(),
        tiny_ds(),
        FitConfig(epochs=3, learning_rate=1e-3, checkpoint_dir=str(checkpoints), tensorboard_dir=str(events)),
    )
    # THEN it trains only the 2 epochs left; TensorBoard events are written where the package is
    # installed (the training container), and their absence here does not break training.
    assert len(resumed["loss"]) == 2
    assert bool(list(events.rglob("events.out.tfevents.*"))) == (
        importlib.util.find_spec("tensorboard") is not None
    )
