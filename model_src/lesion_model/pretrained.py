"""Pretrained weights: every file a model starts from is checked against a known sha256 first.

`--weights imagenet` is the MobileNetV2 (alpha 0.35, no top) ImageNet file shipped in
model_src/weights/ (its NOTE.md: provenance and licence), so training, on SageMaker too,
downloads nothing. Keras's own download (`weights="imagenet"`) is never used: its
`get_file` for MobileNetV2 passes no hash.

A file whose sha256 is not in `KNOWN` is refused (`UnverifiedWeights`) unless the run
allows it (train.py `--allow-unverified-weights`): then it is used with a warning and its
sha256 goes into the metadata with `"verified": false`. A file that carries a known file's
name but not its bytes is always refused: that is a corrupt or tampered copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
IMAGENET_FILE = "mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5"
PACKAGED_IMAGENET = os.path.join(WEIGHTS_DIR, IMAGENET_FILE)
ALLOW_FLAG = "--allow-unverified-weights"


@dataclass(frozen=True)
class Known:
    file: str
    bytes: int
    description: str


# sha256 -> the file. Add a row only for a file whose provenance is written down.
KNOWN: dict[str, Known] = {
    "738eef517c981311e64cca03e00aca95efa96f3e3e406724c4c506ffc3281c87": Known(
        IMAGENET_FILE,
        2_028_672,
        "Keras MobileNetV2 alpha 0.35 no-top ImageNet weights, from the frozen base of a Google "
        "Teachable Machine export (model_src/weights/NOTE.md)",
    ),
}
_KNOWN_FILES = {known.file: sha for sha, known in KNOWN.items()}
# sha256s of unknown files this process was explicitly allowed to use (check(..., allow_unverified=True)).
_allowed: set[str] = set()


class UnverifiedWeights(ValueError):
    """A weights file whose sha256 is not a known one: nothing is built or trained from it."""


@dataclass(frozen=True)
class WeightsRecord:
    """What a model started from; `metadata()` goes into metadata.json."""

    requested: str  # "imagenet" or the path given
    path: str
    sha256: str
    bytes: int
    verified: bool
    description: str

    def metadata(self) -> dict:
        record = asdict(self)
        record["file"] = os.path.basename(record.pop("path"))
        return record


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(weights: str | None, *, allow_unverified: bool = False) -> WeightsRecord | None:
    """Verify `weights` ("imagenet", "none"/None or a path) before anything is built from it.

    Raises FileNotFoundError for a missing file and UnverifiedWeights for a file whose sha256
    is not known (unless `allow_unverified`) or a known file's name with other bytes.
    """
    if weights in (None, "none"):
        return None
    path = PACKAGED_IMAGENET if weights == "imagenet" else weights
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--weights {weights!r}: no such file {path!r} (use imagenet, none or a path)"
        )
    sha = sha256_of(path)
    size = os.path.getsize(path)
    known = KNOWN.get(sha)
    if known is not None:
        log.info("weights %s: sha256 %s verified (%s)", path, sha, known.file)
        return WeightsRecord(weights, path, sha, size, True, known.description)
    expected = _KNOWN_FILES.get(os.path.basename(path))
    if expected is not None:
        raise UnverifiedWeights(
            f"weights {path!r}: sha256 {sha} is not the {expected} of {os.path.basename(path)}: "
            "the file is corrupt or was changed; nothing was trained. Restore it, or rename it and "
            f"pass {ALLOW_FLAG} if you trust it"
        )
    if not allow_unverified:
        raise UnverifiedWeights(
            f"weights {path!r}: sha256 {sha} is not a known weights file (lesion_model/pretrained.py "
            f"KNOWN); nothing was trained. Pass {ALLOW_FLAG} to use it anyway (the sha256 is recorded)"
        )
    log.warning(
        "weights %s are NOT verified (%s): sha256 %s, recorded in the metadata", path, ALLOW_FLAG, sha
    )
    _allowed.add(sha)
    return WeightsRecord(
        weights, path, sha, size, False, "unverified: not in lesion_model/pretrained.py KNOWN"
    )


def resolve(weights: str | None) -> str | None:
    """The verified file Keras should load for `weights` (None for none).

    An unknown file passes only if this process allowed it through `check` before.
    """
    if weights in (None, "none"):
        return None
    path = PACKAGED_IMAGENET if weights == "imagenet" else weights
    allowed = os.path.isfile(path) and sha256_of(path) in _allowed
    record = check(weights, allow_unverified=allowed)
    assert record is not None
    return record.path
