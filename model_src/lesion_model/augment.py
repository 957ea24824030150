"""Training-time augmentation, applied in the tf.data pipeline (never exported).

Dermoscopy images have no "up": any flip or rotation is a plausible image of the same
lesion. "dermoscopy" keeps colour jitter small (colour is diagnostic: blue-white veil,
regression). "domain" (issue 13) widens it to what differs between clinics and
dermatoscopes: brightness, contrast, saturation, a little hue, gamma, blur, and
stronger scale changes, so a model does not learn one clinic's camera.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

AUGMENTATIONS = ("seed", "dermoscopy", "domain", "none")


class RandomGamma(layers.Layer):
    """x -> 255 (x / 255) ** g with one g per image, log-uniform in [1/limit, limit]."""

    def __init__(self, limit: float = 1.4, **kwargs):
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, images, training=True):
        if not training:
            return images
        log_limit = tf.math.log(self.limit)
        gamma = tf.exp(tf.random.uniform([tf.shape(images)[0], 1, 1, 1], -log_limit, log_limit))
        return 255.0 * tf.pow(tf.clip_by_value(images / 255.0, 1e-6, 1.0), gamma)

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


class RandomAffine(layers.Layer):
    """Any rotation, both flips, a zoom and a shift as ONE bilinear warp per image (reflect fill)."""

    def __init__(self, zoom=(0.8, 1.25), shift: float = 0.08, **kwargs):
        super().__init__(**kwargs)
        self.zoom, self.shift = tuple(float(z) for z in zoom), float(shift)

    def call(self, images, training=True):
        if not training:
            return images
        n = tf.shape(images)[0]
        h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
        angle = tf.random.uniform([n], 0.0, 2.0 * 3.141592653589793)
        scale = tf.exp(tf.random.uniform([n], tf.math.log(self.zoom[0]), tf.math.log(self.zoom[1])))
        flip = tf.where(tf.random.uniform([n]) < 0.5, -1.0, 1.0)  # a mirror; rotation covers the rest
        dx = tf.random.uniform([n], -self.shift, self.shift) * w
        dy = tf.random.uniform([n], -self.shift, self.shift) * h
        # Output pixel (x, y) samples input at A (x - c) + c + d, with A = R(angle) diag(flip, 1) / scale.
        cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
        a0, a1, b0, b1 = cos * flip, -sin, sin * flip, cos
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        a2 = cx - a0 * cx - a1 * cy + dx
        b2 = cy - b0 * cx - b1 * cy + dy
        zeros = tf.zeros([n])
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )

    def get_config(self):
        return {**super().get_config(), "zoom": self.zoom, "shift": self.shift}


class RandomHueSaturation(layers.Layer):
    """Hue shift (fraction of the colour circle) and saturation scale, one HSV round trip."""

    def __init__(self, hue: float = 0.04, saturation=(0.6, 1.5), **kwargs):
        super().__init__(**kwargs)
        self.hue, self.saturation = float(hue), tuple(float(v) for v in saturation)

    def call(self, images, training=True):
        if not training:
            return images
        n = tf.shape(images)[0]
        hsv = tf.image.rgb_to_hsv(tf.clip_by_value(images / 255.0, 0.0, 1.0))
        shift = tf.random.uniform([n, 1, 1], -self.hue, self.hue)
        scale = tf.exp(
            tf.random.uniform([n, 1, 1], tf.math.log(self.saturation[0]), tf.math.log(self.saturation[1]))
        )
        hue = tf.math.floormod(hsv[..., 0] + shift, 1.0)
        sat = tf.clip_by_value(hsv[..., 1] * scale, 0.0, 1.0)
        return 255.0 * tf.image.hsv_to_rgb(tf.stack([hue, sat, hsv[..., 2]], axis=-1))

    def get_config(self):
        return {**super().get_config(), "hue": self.hue, "saturation": self.saturation}


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
    elif kind == "domain":
        # One warp and one HSV round trip per batch instead of one per keras layer (CPU: 2.5x cheaper).
        stack = [
            RandomAffine(zoom=(0.8, 1.25), shift=0.08),
            layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed),
            layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
            RandomHueSaturation(hue=0.04, saturation=(0.6, 1.5)),
            RandomGamma(1.4),
            layers.RandomGaussianBlur(0.5, kernel_size=3, sigma=1.0, value_range=(0, 255), seed=seed),
        ]
    elif kind == "none":
        stack = []
    else:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {AUGMENTATIONS}")
    return keras.Sequential(stack, name=f"augment_{kind}")
