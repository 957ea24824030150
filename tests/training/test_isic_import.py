"""The ISIC import step against a local fake of the archive API: folders, manifest, counts, skips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from isic_import import DEFAULT_QUERIES
from isic_import.__main__ import main
from PIL import Image

from .fake_isic import FakeArchive


def _run(archive: FakeArchive, out: Path, *extra: str) -> int:
    return main(
        ["--api-url", archive.url, "--output", str(out), "--page-size", "2", "--workers", "3", *extra]
    )


def test_import_writes_class_folders_labels_and_manifest(tmp_path):
    # GIVEN an archive with 5 benign and 4 malignant images, one of them not a JPEG
    with FakeArchive({"benign": 5, "malignant": 4}, corrupt={"ISIC_0000002"}) as archive:
        # WHEN the whole archive is imported at 64 px, 2 results per page
        assert _run(archive, tmp_path, "--image-size", "64", "--dataset-id", "isic-test") == 0
    # THEN every readable image sits in its class folder, resized once to 64 x 64
    benign = sorted((tmp_path / "benign").glob("*.jpg"))
    malignant = sorted((tmp_path / "malignant").glob("*.jpg"))
    assert (len(benign), len(malignant)) == (4, 4)
    for path in benign + malignant:
        with Image.open(path) as image:
            assert (image.format, image.size, image.mode) == ("JPEG", (64, 64), "RGB")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["class_counts"] == {"benign": 4, "malignant": 4}
    assert manifest["total"] == 8
    assert manifest["skipped"] == {"undecodable": 1}
    assert manifest["source"]["queries"] == DEFAULT_QUERIES
    assert manifest["dataset_id"] == "isic-test" and manifest["image_size"] == 64
    assert sum(manifest["licenses"].values()) == 8 and set(manifest["licenses"]) <= {
        "CC-0",
        "CC-BY",
        "CC-BY-NC",
    }
    assert manifest["created_at"].endswith("Z")
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert {row["file"] for row in rows} == {f"{p.parent.name}/{p.name}" for p in benign + malignant}
    assert all(row["diagnosis_1"] == row["label"].capitalize() for row in rows)
    assert (tmp_path / "attribution.txt").read_text().splitlines() == ["Test Clinic 0", "Test Clinic 1"]


def test_import_follows_the_next_cursor_and_uses_thumbnails(tmp_path):
    with FakeArchive({"benign": 5, "malignant": 3}) as archive:
        assert _run(archive, tmp_path) == 0
        searches = [p for p in archive.requests if p.startswith("/api/v2/images/search/")]
        # 5 benign at 2 per page = 3 pages, 3 malignant = 2 pages: every page of the cursor chain
        assert len(searches) == 5
        assert sum("cursor=" in p for p in searches) == 3
        # the training size (224) fits in the 256 px thumbnail: no full-size download
        assert archive.hits == {"thumb": 8}


def test_full_images_are_fetched_when_the_training_size_exceeds_the_thumbnail(tmp_path):
    with FakeArchive({"benign": 2, "malignant": 2}) as archive:
        assert _run(archive, tmp_path, "--image-size", "300") == 0
        assert archive.hits == {"full": 4}


def test_limit_caps_the_images_split_over_the_classes(tmp_path):
    with FakeArchive({"benign": 6, "malignant": 6}) as archive:
        assert _run(archive, tmp_path, "--limit", "5") == 0
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert manifest["class_counts"] == {"benign": 3, "malignant": 2}
        assert manifest["source"]["limit"] == 5
        # the cap stops the search early: only the pages needed were read
        assert archive.hits["thumb"] == 5


def test_a_result_whose_diagnosis_contradicts_its_query_is_skipped(tmp_path):
    with FakeArchive({"benign": 3, "malignant": 2}, mislabelled={"ISIC_0000001"}) as archive:
        assert _run(archive, tmp_path) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["class_counts"] == {"benign": 2, "malignant": 2}
    assert manifest["skipped"] == {"label_mismatch": 1}


def test_skip_if_exists_leaves_a_finished_dataset_alone(tmp_path):
    (tmp_path / "manifest.json").write_text('{"total": 1}')
    with FakeArchive({"benign": 2, "malignant": 2}) as archive:
        assert _run(archive, tmp_path, "--skip-if-exists") == 0
        assert archive.requests == []
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"total": 1}


def test_an_empty_class_fails_the_import(tmp_path):
    with FakeArchive({"benign": 2, "malignant": 0}) as archive:
        assert _run(archive, tmp_path) == 3


def test_an_unreachable_archive_fails_with_a_clear_exit_code(tmp_path, monkeypatch):
    monkeypatch.setattr("isic_import.importer.search", _refusing_search)
    assert main(["--output", str(tmp_path)]) == 2
    assert not (tmp_path / "manifest.json").exists()


def _refusing_search(*_args, **_kwargs):
    from isic_import.archive import ArchiveError

    raise ArchiveError("GET https://api.isic-archive.com/api/v2/images/search/: HTTP 503")
    yield  # pragma: no cover (makes this a generator like the real one)


@pytest.mark.parametrize("bad", [["--limit", "-1"], ["--image-size", "8"], ["--page-size", "500"]])
def test_bad_arguments_are_rejected(tmp_path, bad):
    with pytest.raises(SystemExit) as exc:
        main(["--output", str(tmp_path), *bad])
    assert exc.value.code == 2
