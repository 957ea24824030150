"""make_model: shapes and sizes per architecture; the two-phase freezing of the backbone."""

from __future__ import annotations

import os

import numpy as np
import pytest
from lesion_model.architectures import BACKBONE_NAME, make_model, set_backbone_trainable

from .helpers import REPO

SHARED_WEIGHTS = os.path.join(
    REPO, "..", "shared", "weights", "mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5"
)


@pytest.mark.parametrize("arch", ["seed", "mobilenet_v2"])
def test_make_model_returns_one_float32_logit_per_image(arch):
    model = make_model(arch, image_size=64, weights="none")
    out = model(np.zeros((3, 64, 64, 3), np.float32), training=False)
    assert tuple(out.shape) == (3, 1) and out.dtype.name == "float32"


def test_seed_model_is_the_original_mini_xception():
    # 2,782,649 parameters: the Keras tutorial model the original team trained at 180 px,
    # plus the calibration temperature (one non-trainable scalar, issue 13).
    assert make_model("seed", image_size=180).count_params() == 2_782_649 + 1


def test_seed_model_refuses_pretrained_weights():
    with pytest.raises(ValueError, match="from scratch"):
        make_model("seed", 64, weights="imagenet")


def test_unknown_arch_and_missing_weights_file_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown arch"):
        make_model("resnet9000", 64)
    with pytest.raises(FileNotFoundError, match="no such file"):
        make_model("mobilenet_v2", 64, weights=str(tmp_path / "missing.h5"))


def test_backbone_freezing_phases():
    model = make_model("mobilenet_v2", image_size=64, weights="none")
    head_only = set_backbone_trainable(model, 0.0)
    frozen = len(model.trainable_weights)
    half = set_backbone_trainable(model, 0.5)
    assert head_only == 0 and frozen == 2  # just the Dense head's kernel and bias
    assert 0 < half < set_backbone_trainable(model, 1.0)
    assert len(model.get_layer(BACKBONE_NAME).trainable_weights) > 0


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isfile(SHARED_WEIGHTS), reason="../shared/weights not present")
def test_mobilenet_loads_the_imagenet_weights_file_by_path():
    model = make_model("mobilenet_v2", image_size=96, weights=SHARED_WEIGHTS)
    kernel = model.get_layer(BACKBONE_NAME).get_layer("Conv1").get_weights()[0]
    assert np.abs(kernel).sum() > 0 and model.get_layer(BACKBONE_NAME).count_params() == 410_208
