"""model_src/refit_guard.py: a new guard for an existing artifact, the classifier untouched."""

from __future__ import annotations

import json
import os
import tarfile

import numpy as np
import pytest

from .helpers import write_folder_dataset


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("refit_data")
    for name in ("isic-dev", "isic-2017"):
        os.makedirs(root / name)
        write_folder_dataset(root / name, 16, 12)
        files = sorted(
            f"{label}/{f}" for label in ("benign", "malignant") for f in os.listdir(root / name / label)
        )
        (root / name / "labels.csv").write_text(
            "file,label\n" + "".join(f"{f},{f.split('/')[0]}\n" for f in files)
        )
    return str(root)


def _meta(package: str) -> dict:
    with tarfile.open(package) as tar:
        return json.load(tar.extractfile("metadata.json"))


def test_refit_keeps_the_classifier_and_metadata_and_replaces_the_guard(
    trained_artifact, two_sources, tmp_path
):
    import refit_guard
    from evaluate_guard import lesion_files, read
    from lesion_model.export import extract

    out = str(tmp_path / "refitted.tar.gz")
    assert (
        refit_guard.main(["--artifact", trained_artifact["package"], "--data", two_sources, "--out", out])
        == 0
    )
    before, after = _meta(trained_artifact["package"]), _meta(out)
    assert {k: v for k, v in after.items() if k != "guard"} == {
        k: v for k, v in before.items() if k != "guard"
    }
    # The model trained from scratch without --freeze-through: train.py's rule gives the lesion-only guard.
    assert after["guard"]["method"] == "mahalanobis-ppca"
    assert after["guard"]["refitted"]["by"].startswith("model_src/refit_guard.py")
    assert "refitted" not in before["guard"]
    blobs = [read(f) for f in lesion_files(os.path.join(two_sources, "isic-dev"))[:6]]
    old, new = (
        refit_guard.probabilities(extract(p, str(tmp_path / name)), blobs)
        for p, name in ((trained_artifact["package"], "old"), (out, "new"))
    )
    np.testing.assert_array_equal(old, new)


def test_refit_on_a_named_layer_fits_the_lesion_only_guard_there(trained_artifact, two_sources, tmp_path):
    import refit_guard

    out = str(tmp_path / "layer.tar.gz")
    argv = ["--artifact", trained_artifact["package"], "--data", two_sources, "--out", out,
            "--backbone-layer", "block_5_expand_relu"]  # fmt: skip
    assert refit_guard.main(argv) == 0
    guard = _meta(out)["guard"]
    assert guard["method"] == "mahalanobis-ppca" and guard["backbone_layer"] == "block_5_expand_relu"
