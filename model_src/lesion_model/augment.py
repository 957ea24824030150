"""Training-time augmentation, applied in the tf.data pipeline (never exported).

Dermoscopy images have no "up": any flip or rotation is a plausible image of the same
lesion. Colour jitter is kept small on purpose: colour is diagnostic (blue-white veil,
regression), and clinics differ mostly in illumination and white balance, not hue.
"""

from __future__ import annotations

import keras
from keras import layers

AUGMENTATIONS = ("seed", "dermoscopy", "none")


def make_augmentation(kind: str, seed: int) -> keras.Sequential:
    """Return the augmentation stack by name; inputs and outputs are float 0..255 batches."""
    if kind == "seed":
        # What the original team used (the Keras tutorial's two layers).
        stack = [layers.RandomFlip("horizontal", seed=seed), layers.RandomRotation(0.1, seed=seed)]
    elif kind == "dermoscopy":
        stack = [
            layers.RandomFlip("horizontal_and_vertical", seed=seed),
            layers.RandomRotation(0.5, fill_mode="reflect", seed=seed),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed),
            layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
            layers.RandomContrast(0.15, value_range=(0, 255), seed=seed),
            layers.RandomSaturation((0.4, 0.6), value_range=(0, 255), seed=seed),
        ]
    elif kind == "none":
        stack = []
    else:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTATIONS}")
    return keras.Sequential(stack, name=f"augment_{kind}")
