"""Pretrained weights are checked against a known sha256 before anything is trained from them
(docs/security.md, "Supply chain"); `--weights imagenet` is the file shipped in model_src/weights/."""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path

import pytest
from lesion_model import pretrained

from .helpers import REPO

# As ../shared/weights/NOTE.md gives it.
IMAGENET_SHA256 = "738eef517c981311e64cca03e00aca95efa96f3e3e406724c4c506ffc3281c87"
WEIGHTS_DIR = Path(REPO, "model_src", "weights")


def _tampered(tmp_path, name: str = pretrained.IMAGENET_FILE) -> str:
    """A copy of the shipped file with one byte changed, under `name`."""
    data = bytearray(Path(pretrained.PACKAGED_IMAGENET).read_bytes())
    data[len(data) // 2] ^= 0x01
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def test_the_shipped_imagenet_file_is_the_known_one_and_its_note_says_so():
    assert str(WEIGHTS_DIR / pretrained.IMAGENET_FILE) == pretrained.PACKAGED_IMAGENET
    assert pretrained.sha256_of(pretrained.PACKAGED_IMAGENET) == IMAGENET_SHA256
    assert pretrained.KNOWN[IMAGENET_SHA256].bytes == os.path.getsize(pretrained.PACKAGED_IMAGENET)
    note = (WEIGHTS_DIR / "NOTE.md").read_text()
    assert IMAGENET_SHA256 in note and "Apache License 2.0" in note


def test_a_known_file_anywhere_passes_with_its_sha256(tmp_path):
    copy = tmp_path / "renamed.h5"
    shutil.copy(pretrained.PACKAGED_IMAGENET, copy)
    record = pretrained.check(str(copy))
    assert record is not None and record.verified and record.sha256 == IMAGENET_SHA256
    assert record.metadata() == {
        "requested": str(copy), "file": "renamed.h5", "sha256": IMAGENET_SHA256, "bytes": 2_028_672,
        "verified": True, "description": pretrained.KNOWN[IMAGENET_SHA256].description,
    }  # fmt: skip
    assert pretrained.check("none") is None and pretrained.resolve(None) is None


def test_imagenet_resolves_to_the_shipped_file_without_the_network(monkeypatch):
    def no_network(*_args, **_kwargs):
        raise AssertionError("pretrained weights must not be downloaded")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert pretrained.resolve("imagenet") == pretrained.PACKAGED_IMAGENET
    record = pretrained.check("imagenet")
    assert record is not None and record.verified and record.requested == "imagenet"

    from lesion_model.architectures import BACKBONE_NAME, make_model

    model = make_model("mobilenet_v2", image_size=96, weights="imagenet")
    backbone = model.get_layer(BACKBONE_NAME)
    assert backbone.count_params() == 410_208
    assert abs(float(backbone.get_layer("bn_Conv1").moving_mean.numpy()[0])) > 0  # trained, not an init


def test_a_tampered_copy_of_a_known_file_is_refused_even_when_unverified_files_are_allowed(tmp_path):
    tampered = _tampered(tmp_path)
    for allow in (False, True):
        with pytest.raises(pretrained.UnverifiedWeights, match="corrupt or was changed"):
            pretrained.check(tampered, allow_unverified=allow)

    from lesion_model.architectures import make_model

    with pytest.raises(pretrained.UnverifiedWeights):
        make_model("mobilenet_v2", 96, weights=tampered)


def test_train_refuses_a_tampered_file_before_loading_data_or_training(tmp_path, monkeypatch):
    import train

    def never(*_args, **_kwargs):
        raise AssertionError("nothing may be loaded or trained from unverified weights")

    monkeypatch.setattr(train, "load_parts", never)
    monkeypatch.setattr(train, "train_model", never)
    model_dir = tmp_path / "model"
    argv = ["--train", str(tmp_path), "--model-dir", str(model_dir), "--weights", _tampered(tmp_path)]
    with pytest.raises(pretrained.UnverifiedWeights, match="nothing was trained"):
        train.main(argv)
    assert not model_dir.exists()


def test_an_unknown_file_needs_the_flag_then_is_used_with_a_warning_and_its_sha256_recorded(tmp_path, caplog):
    import train
    from lesion_model.metadata import build_metadata

    unknown = _tampered(tmp_path, name="my_own_backbone.h5")
    argv = ["--train", str(tmp_path), "--weights", unknown, "--source-revision", "testrev"]
    with pytest.raises(pretrained.UnverifiedWeights, match="--allow-unverified-weights"):
        train.parse_args(argv)
    with caplog.at_level(logging.WARNING, logger=pretrained.__name__):
        args = train.parse_args([*argv, "--allow-unverified-weights"])
    assert "NOT verified" in caplog.text
    assert pretrained.resolve(unknown) == unknown  # this process allowed it: make_model may load it
    meta = build_metadata(args, {}, 0, {"threshold": 0.5}, None, {}, 1.0)
    recorded = meta["training"]["pretrained_weights"]
    assert recorded["verified"] is False and recorded["sha256"] == pretrained.sha256_of(unknown)
    assert recorded["file"] == "my_own_backbone.h5"


def test_the_metadata_records_the_verified_imagenet_file():
    import train
    from lesion_model.metadata import build_metadata

    args = train.parse_args(["--train", "x", "--weights", "imagenet", "--source-revision", "testrev"])
    meta = build_metadata(args, {}, 0, {"threshold": 0.5}, None, {}, 1.0)
    recorded = meta["training"]["pretrained_weights"]
    assert recorded["requested"] == "imagenet" and recorded["verified"] is True
    assert recorded["sha256"] == IMAGENET_SHA256
