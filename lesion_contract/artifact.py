"""The model artifact's contract: `model.tar.gz` carries `metadata.json` at its root.

One reader for everyone outside `model_src/` (which stays standalone for SageMaker):
the predict Lambda, the training pipeline's quality gate and the local stack.
"""

from __future__ import annotations

import json
import tarfile
from typing import IO, Any

METADATA_NAME = "metadata.json"
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class NoMetadata(ValueError):
    """The artifact has no top-level metadata.json."""


def metadata_bytes(stream: IO[bytes]) -> bytes:
    """metadata.json's bytes from a model.tar(.gz) stream.

    Read forward only ("r|*"), so an S3 body that cannot seek works, and reading stops
    at metadata.json, usually long before the SavedModel's weights. Raises NoMetadata,
    or tarfile.TarError / OSError for a stream that is not a readable tar.
    """
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
            # "./metadata.json" too: a prefix, not the characters "." and "/" (str.lstrip would
            # also accept ".metadata.json" or "/metadata.json").
            if member.isfile() and member.name.removeprefix("./") == METADATA_NAME:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise NoMetadata(f"the model artifact has no top-level {METADATA_NAME}")


def read_metadata(stream: IO[bytes]) -> dict[str, Any]:
    """metadata.json of a model.tar(.gz) stream, parsed; ValueError when it is not a JSON object."""
    document = json.loads(metadata_bytes(stream))
    if not isinstance(document, dict):
        raise ValueError(f"{METADATA_NAME} is not a JSON object")
    return document
