"""Model architectures. `make_model` is a pure function of its arguments.

Every model takes float 0..255 RGB images [N, S, S, 3] (the output of
`preprocess.decode_and_resize`), scales them itself, and returns one float32 logit
for "malignant" per image: the loss applies the sigmoid, and so does the export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
from keras import layers

BACKBONE_NAME = "backbone"


@dataclass(frozen=True)
class ArchDefaults:
    """Hyperparameters an architecture was designed or published with."""

    image_size: int
    batch_size: int
    learning_rate: float
    dropout: float


ARCHITECTURES: dict[str, ArchDefaults] = {
    # The original system: the Keras tutorial's mini-Xception, as that team trained it.
    "seed": ArchDefaults(image_size=180, batch_size=16, learning_rate=1e-3, dropout=0.5),
    # Ours: ImageNet MobileNetV2 (width 0.35), fine-tuned in two phases.
    "mobilenet_v2": ArchDefaults(image_size=224, batch_size=32, learning_rate=1e-3, dropout=0.3),
}


def make_model(arch: str, image_size: int, weights: str | None = None, dropout: float | None = None):
    """Build an uncompiled model. `weights`: "imagenet", "none"/None, or a path to a .h5/.weights.h5."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    rate = ARCHITECTURES[arch].dropout if dropout is None else dropout
    if arch == "seed":
        if weights not in (None, "none"):
            raise ValueError("the seed model trains from scratch; pass --weights none")
        return _seed_xception(image_size, rate)
    return _mobilenet_v2(image_size, _resolve_weights(weights), rate)


def _resolve_weights(weights: str | None) -> str | None:
    if weights in (None, "none"):
        return None
    if weights == "imagenet":
        return "imagenet"  # Keras downloads it (works on SageMaker, not offline)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights {weights!r}: no such file (use imagenet, none or a path)")
    return weights


def _seed_xception(image_size: int, dropout: float) -> keras.Model:
    """The Keras "image classification from scratch" mini-Xception the original team used."""
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = _conv_bn_relu(x, 32, strides=2)
    x = _conv_bn_relu(x, 64, strides=1)
    previous = x
    for width in (128, 256, 512, 728):
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(width, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(width, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(width, 1, strides=2, padding="same")(previous)
        x = layers.add([x, residual])
        previous = x
    x = layers.SeparableConv2D(1024, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    return _head(inputs, x, dropout, name="seed_xception")


def _conv_bn_relu(x, filters: int, strides: int):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _mobilenet_v2(image_size: int, weights: str | None, dropout: float) -> keras.Model:
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=0.35, include_top=False, weights=weights
    )
    backbone.name = BACKBONE_NAME
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)  # MobileNetV2 expects [-1, 1]
    # With pretrained weights, training=False keeps BatchNorm in inference mode even when
    # the backbone is unfrozen: re-estimating ImageNet statistics on a small set wrecks them.
    # From scratch there are no statistics to keep, so BatchNorm trains normally.
    x = backbone(x, training=False) if weights else backbone(x)
    return _head(inputs, x, dropout, name="mobilenet_v2_035")


def _head(inputs, features, dropout: float, name: str) -> keras.Model:
    x = layers.GlobalAveragePooling2D()(features)
    x = layers.Dropout(dropout)(x)
    # float32 even under mixed precision: a float16 logit loses the tails of the sigmoid.
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logit, name=name)


def set_backbone_trainable(model: keras.Model, unfreeze_from: float) -> int:
    """Freeze the backbone except its top `unfreeze_from` fraction of layers (0 = frozen, 1 = all).

    Returns the number of trainable backbone layers. Models without a backbone stay trainable.
    """
    try:
        backbone = model.get_layer(BACKBONE_NAME)
    except ValueError:
        return 0
    n_layers = len(backbone.layers)
    first = int(round(n_layers * (1.0 - unfreeze_from)))
    backbone.trainable = unfreeze_from > 0
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= first and not isinstance(layer, layers.BatchNormalization)
    return sum(1 for layer in backbone.layers if layer.trainable and layer.weights)
