"""Model architectures. `make_model` is a pure function of its arguments.

Every model takes float 0..255 RGB images [N, S, S, 3] (the output of
`preprocess.decode_and_resize`), scales them itself, and returns one float32 logit
for "malignant" per image: the loss applies the sigmoid, and so does the export.

Inside the graph, in order: optional colour constancy (Shades of Grey, so training and
serving see the same corrected pixels), the backbone, the layer "pooled_features"
([N, D], the not-a-lesion guard reads it), then either one Dense logit (head "binary")
or a softmax over `DIAGNOSES` folded to logit = log p_mal - log(1 - p_mal) with p_mal
the sum over `MALIGNANT_DIAGNOSES` (head "diagnosis"; the layer "diagnosis_logits"
holds the per-diagnosis logits training uses), and last a fixed temperature (the logit
is divided by T, set after calibration; 1 until then).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers

from lesion_model import DIAGNOSES, MALIGNANT_DIAGNOSES, pretrained
from lesion_model.colour import ShadesOfGrey

BACKBONE_NAME = "backbone"
POOLED_NAME = "pooled_features"
DIAGNOSIS_LOGITS_NAME = "diagnosis_logits"
TEMPERATURE_NAME = "temperature"
HEADS = ("binary", "diagnosis")


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


def make_model(
    arch: str,
    image_size: int,
    weights: str | None = None,
    dropout: float | None = None,
    head: str = "binary",
    colour_constancy: bool = False,
):
    """Build an uncompiled model. `weights`: "imagenet", "none"/None, or a path to a .h5/.weights.h5.

    head "binary": one Dense logit; "diagnosis": a softmax over DIAGNOSES folded to the
    malignant logit. colour_constancy: a Shades-of-Grey layer in front of everything.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
    rate = ARCHITECTURES[arch].dropout if dropout is None else dropout
    spec = (rate, head, colour_constancy)
    if arch == "seed":
        if weights not in (None, "none"):
            raise ValueError("the seed model trains from scratch; pass --weights none")
        return _seed_xception(image_size, spec)
    return _mobilenet_v2(image_size, _resolve_weights(weights), spec)


def _resolve_weights(weights: str | None) -> str | None:
    # Never Keras's own "imagenet" download (no hash check): "imagenet" is the file shipped in
    # model_src/weights/, and every file is checked against its known sha256 first.
    return pretrained.resolve(weights)


def _stem(image_size: int, colour_constancy: bool):
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    return inputs, (ShadesOfGrey(name="colour_constancy")(inputs) if colour_constancy else inputs)


def _seed_xception(image_size: int, spec: tuple) -> keras.Model:
    """The Keras "image classification from scratch" mini-Xception the original team used."""
    inputs, x = _stem(image_size, spec[2])
    x = layers.Rescaling(1.0 / 255)(x)
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
    return _head(inputs, x, spec, name="seed_xception")


def _conv_bn_relu(x, filters: int, strides: int):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _mobilenet_v2(image_size: int, weights: str | None, spec: tuple) -> keras.Model:
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=0.35, include_top=False, weights=weights
    )
    backbone.name = BACKBONE_NAME
    inputs, x = _stem(image_size, spec[2])
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(x)  # MobileNetV2 expects [-1, 1]
    # With pretrained weights, training=False keeps BatchNorm in inference mode even when
    # the backbone is unfrozen: re-estimating ImageNet statistics on a small set wrecks them.
    # From scratch there are no statistics to keep, so BatchNorm trains normally.
    x = backbone(x, training=False) if weights else backbone(x)
    return _head(inputs, x, spec, name="mobilenet_v2_035")


def _head(inputs, features, spec: tuple, name: str) -> keras.Model:
    dropout, head, _ = spec
    pooled = layers.GlobalAveragePooling2D(name=POOLED_NAME)(features)
    x = layers.Dropout(dropout)(pooled)
    # float32 even under mixed precision: a float16 logit loses the tails of the sigmoid.
    if head == "binary":
        logit = layers.Dense(1, dtype="float32", name="logit")(x)
    else:
        diagnosis = layers.Dense(len(DIAGNOSES), dtype="float32", name=DIAGNOSIS_LOGITS_NAME)(x)
        logit = MalignantLogit(name="logit")(diagnosis)
    logit = Temperature(name=TEMPERATURE_NAME)(logit)
    return keras.Model(inputs, logit, name=name)


_MALIGNANT_MASK = [d in MALIGNANT_DIAGNOSES for d in DIAGNOSES]


class MalignantLogit(layers.Layer):
    """Per-diagnosis logits [N, K] -> [N, 1]: log p_mal - log(1 - p_mal), p_mal = sum of the
    softmax over the malignant diagnoses. Computed as a difference of two logsumexps, which
    stays finite where the probabilities round to 0 or 1."""

    def call(self, logits):
        mask = tf.constant(_MALIGNANT_MASK)
        very_negative = tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype))
        malignant = tf.reduce_logsumexp(tf.where(mask, logits, very_negative), axis=-1, keepdims=True)
        benign = tf.reduce_logsumexp(tf.where(mask, very_negative, logits), axis=-1, keepdims=True)
        return malignant - benign


class Temperature(layers.Layer):
    """Divide the logit by a fixed temperature T (a non-trainable weight, saved with the model)."""

    def build(self, input_shape):
        self.temperature = self.add_weight(
            name="temperature", shape=(), initializer="ones", trainable=False, dtype="float32"
        )

    def call(self, logit):
        return logit / tf.cast(self.temperature, logit.dtype)


def set_temperature(model: keras.Model, value: float) -> None:
    model.get_layer(TEMPERATURE_NAME).temperature.assign(float(value))


def get_temperature(model: keras.Model) -> float:
    return float(model.get_layer(TEMPERATURE_NAME).temperature.numpy())


def diagnosis_model(model: keras.Model) -> keras.Model | None:
    """The same weights seen as image -> per-diagnosis logits (None for a binary head)."""
    try:
        layer = model.get_layer(DIAGNOSIS_LOGITS_NAME)
    except ValueError:
        return None
    return keras.Model(model.inputs, layer.output, name=f"{model.name}_diagnoses")


def feature_model(model: keras.Model) -> keras.Model:
    """The same weights seen as image -> pooled backbone features [N, D] (for the guard)."""
    return keras.Model(model.inputs, model.get_layer(POOLED_NAME).output, name=f"{model.name}_features")


def set_backbone_trainable(model: keras.Model, unfreeze_from: float, freeze_through: str = "") -> int:
    """Freeze the backbone except its top `unfreeze_from` fraction of layers (0 = frozen, 1 = all).

    `freeze_through`: a backbone layer name; it and every layer before it stay frozen whatever
    the fraction, so that layer's output keeps the pretrained (ImageNet) features. The
    not-a-lesion guard reads them (docs/model.md). BatchNormalization layers always stay
    frozen (their ImageNet statistics, inference mode).
    Returns the number of trainable backbone layers. Models without a backbone stay trainable.
    """
    try:
        backbone = model.get_layer(BACKBONE_NAME)
    except ValueError:
        return 0
    n_layers = len(backbone.layers)
    first = int(round(n_layers * (1.0 - unfreeze_from)))
    if freeze_through:
        names = [layer.name for layer in backbone.layers]
        if freeze_through not in names:
            raise ValueError(f"freeze_through: the backbone has no layer {freeze_through!r}")
        first = max(first, names.index(freeze_through) + 1)
    backbone.trainable = unfreeze_from > 0 and first < n_layers
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= first and not isinstance(layer, layers.BatchNormalization)
    return sum(1 for layer in backbone.layers if layer.trainable and layer.weights)
