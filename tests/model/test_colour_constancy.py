"""Colour constancy inside the graph, the diagnosis head's folded logit and the layers the guard reads."""

from __future__ import annotations

import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from lesion_model import DIAGNOSES, MALIGNANT_DIAGNOSES
from lesion_model.architectures import (
    POOLED_NAME,
    diagnosis_model,
    feature_model,
    get_temperature,
    make_model,
    set_temperature,
)
from lesion_model.colour import shades_of_grey
from lesion_model.export import export_saved_model
from lesion_model.training import partial_label_loss
from PIL import Image

from .helpers import REPO, SIZE, lesion_image
from .tfs_session_run import session_run

SHARED_WEIGHTS = os.path.join(
    REPO, "..", "shared", "weights", "mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5"
)
CAST = np.asarray([1.25, 0.95, 0.7], np.float32)  # a warm dermatoscope: more red, much less blue


def _image(seed: int = 0) -> np.ndarray:
    raw = lesion_image(True, np.random.default_rng(seed), size=SIZE)
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), np.float32) * 0.75  # headroom: no clipping


def test_shades_of_grey_removes_a_uniform_colour_cast():
    image = _image()[None]
    corrected, corrected_cast = shades_of_grey(image).numpy(), shades_of_grey(image * CAST).numpy()
    assert np.abs(corrected - corrected_cast).max() < 0.5  # the same picture, to rounding
    assert np.abs(image - image * CAST).max() > 30  # while the inputs differ a lot


def _predict(model, images):
    # An untrained network's BatchNorm statistics squash every input to the same output in
    # inference mode, so score with batch statistics (dropout is 0: deterministic).
    return tf.sigmoid(model(images, training=True)).numpy().ravel()


def test_a_colour_cast_image_and_its_corrected_version_get_the_same_prediction():
    keras.utils.set_random_seed(1)  # a fixed initialisation: the margins below do not depend on luck
    model = make_model("seed", SIZE, weights="none", dropout=0.0, head="diagnosis", colour_constancy=True)
    x = np.stack([_image(0), _image(1), _image(2)])
    cast = x * CAST
    p, p_cast, p_corrected = (_predict(model, v) for v in (x, cast, shades_of_grey(cast).numpy()))
    assert np.abs(p_corrected - p_cast).max() < 1e-4  # the cast image and its corrected version
    assert np.abs(p - p_cast).max() < 5e-3  # and the original (the p-norm's epsilon makes it inexact)
    # The same network without the layer does see the cast (so the check above is not vacuous).
    without = make_model("seed", SIZE, weights="none", dropout=0.0, head="diagnosis", colour_constancy=False)
    without.set_weights(model.get_weights())  # colour constancy has no weights: the same network
    assert np.abs(_predict(without, x) - _predict(without, cast)).max() > 1e-2


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isfile(SHARED_WEIGHTS), reason="../shared/weights not present")
def test_the_exported_graph_applies_colour_constancy_to_the_request_bytes(tmp_path):
    # ImageNet weights: real features, so the served probability does depend on colour.
    model = make_model("mobilenet_v2", SIZE, weights=SHARED_WEIGHTS, head="diagnosis", colour_constancy=True)
    rng = np.random.default_rng(1)
    model.get_layer("diagnosis_logits").set_weights([rng.normal(0, 0.3, (1280, len(DIAGNOSES))), np.zeros(7)])
    export_saved_model(model, SIZE, str(tmp_path / "sm"))

    def png(pixels):
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8)).save(buffer, "PNG")
        return buffer.getvalue()

    x, y = _image(3), _image(4)[::-1] * [0.6, 0.9, 1.1]
    probabilities, _ = session_run(str(tmp_path / "sm"), [png(x), png(x * CAST), png(y)])
    assert probabilities[0][1] == pytest.approx(probabilities[1][1], abs=5e-3)
    assert abs(probabilities[0][1] - probabilities[2][1]) > 5e-3  # another image does score differently


def test_the_diagnosis_head_folds_to_the_malignant_logit_and_temperature_divides_it():
    model = make_model("mobilenet_v2", SIZE, weights="none", head="diagnosis")
    x = np.stack([_image(0), _image(5)])
    logits = diagnosis_model(model)(x, training=False).numpy()
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p_mal = softmax[:, [d in MALIGNANT_DIAGNOSES for d in DIAGNOSES]].sum(axis=1)
    folded = model(x, training=False).numpy().ravel()
    np.testing.assert_allclose(folded, np.log(p_mal) - np.log1p(-p_mal), rtol=1e-4, atol=1e-4)
    set_temperature(model, 2.0)
    assert get_temperature(model) == 2.0
    np.testing.assert_allclose(model(x, training=False).numpy().ravel(), folded / 2.0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head", ["binary", "diagnosis"])
def test_pooled_features_layer_is_there_for_the_guard(head):
    model = make_model("mobilenet_v2", SIZE, weights="none", head=head)
    assert model.get_layer(POOLED_NAME).output.shape[-1] == 1280
    assert feature_model(model)(np.zeros((2, SIZE, SIZE, 3), np.float32)).shape == (2, 1280)


def test_partial_label_loss_is_minus_log_of_the_allowed_probability():
    logits = tf.constant([[0.0, 1.0, 2.0]])
    p = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    loss = partial_label_loss(tf.constant([[1.0, 1.0, 0.0]]), logits).numpy()[0]
    assert loss == pytest.approx(-np.log(p[0] + p[1]), rel=1e-5)
