"""The Lambda bundle installs only hash-pinned wheels (docs/security.md, "Supply chain")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks import bundling

PREDICT = Path(__file__).resolve().parents[2] / "lambda_src" / "predict_api"


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_the_lock_pins_every_requirement_at_its_version_with_a_sha256() -> None:
    lock = bundling.checked_lock(PREDICT / "requirements.txt")  # raises when stale
    text = lock.read_text()
    locked = _pins(text)
    for name, version in _pins((PREDICT / "requirements.txt").read_text()).items():
        assert locked.get(name) == version, f"{name}=={version} is not what the lock pins"
    entries = re.findall(r"^(\S+==\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", text, re.M)
    assert len(entries) == len(locked) >= 3  # every pin carries its hash, the tree included


def test_the_bundler_installs_the_lock_with_require_hashes(tmp_path: Path) -> None:
    bundler = bundling.PipPlatformBundling(requirements=PREDICT / "requirements.txt", packages=[])
    command = bundler._pip_command(tmp_path)
    assert "--require-hashes" in command and "--no-deps" in command
    assert command[command.index("-r") + 1] == str(PREDICT / bundling.LOCK_NAME)


def test_a_lock_made_from_other_requirements_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pillow==13.0.0\n")
    with pytest.raises(FileNotFoundError, match="stacks.bundling lock"):
        bundling.checked_lock(tmp_path / "requirements.txt")
    (tmp_path / bundling.LOCK_NAME).write_text((PREDICT / bundling.LOCK_NAME).read_text())
    with pytest.raises(ValueError, match="another requirements.txt"):
        bundling.checked_lock(tmp_path / "requirements.txt")


def test_the_training_code_bundle_carries_the_verified_imagenet_weights() -> None:
    """`--weights imagenet` (the training job's default) loads this file: the job downloads none."""
    import hashlib
    import io
    import tarfile

    from stacks.constructs.dataset import MODEL_SRC, deterministic_targz
    from stacks.constructs.training import DEFAULT_HYPERPARAMETERS

    assert DEFAULT_HYPERPARAMETERS["weights"] == "imagenet"
    with tarfile.open(fileobj=io.BytesIO(deterministic_targz(MODEL_SRC))) as tar:
        names = tar.getnames()
        weights = tar.extractfile("weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5")
        assert weights is not None
        digest = hashlib.sha256(weights.read()).hexdigest()
    assert digest == "738eef517c981311e64cca03e00aca95efa96f3e3e406724c4c506ffc3281c87"
    assert {"weights/NOTE.md", "lesion_model/pretrained.py", "train.py"} <= set(names)
