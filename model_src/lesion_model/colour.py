"""Colour constancy inside the graph: Shades of Grey (Finlayson and Trezzi, 2004).

Each image's illuminant is estimated per channel as the Minkowski p-norm mean of its
pixels, and every channel is scaled so that the illuminant becomes grey at the image's
own mean level. A uniform colour cast (one gain per channel, e.g. another dermatoscope's
white balance) therefore maps to the same corrected image. Barata et al. (2015) and
the ISIC 2018/2019 winning entries used it for exactly this reason. It is a layer of the
model, so the exported serving graph applies it to every request as training did.
"""

from __future__ import annotations

import tensorflow as tf
from keras import layers


def shades_of_grey(images: tf.Tensor, power: float = 6.0, eps: float = 1e-6) -> tf.Tensor:
    """float [N, H, W, 3] in 0..255 -> the same images with a grey illuminant, clipped to 0..255."""
    x = tf.cast(images, tf.float32)
    scaled = x / 255.0 + eps
    illuminant = tf.reduce_mean(tf.pow(scaled, power), axis=[1, 2], keepdims=True) ** (1.0 / power)
    gain = tf.reduce_mean(illuminant, axis=-1, keepdims=True) / illuminant
    return tf.cast(tf.clip_by_value(x * gain, 0.0, 255.0), images.dtype)


class ShadesOfGrey(layers.Layer):
    """The Shades-of-Grey correction as a Keras layer (no weights)."""

    def __init__(self, power: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        self.power = float(power)

    def call(self, images):
        return shades_of_grey(images, self.power)

    def get_config(self):
        return {**super().get_config(), "power": self.power}
