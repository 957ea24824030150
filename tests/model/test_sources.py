"""The multi-source loader: sources and diagnoses kept, near duplicates across sources dropped
before splitting, duplicate groups kept on one side of a split (issue 13)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from lesion_model import DIAGNOSES, data, sources
from PIL import Image


def _texture(seed: int, size: int = 96) -> np.ndarray:
    """A distinct smooth random colour pattern (low frequencies, so resizing keeps it)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 215, (6, 6, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def _write(path: str, pixels: np.ndarray, size: int, quality: int = 92) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR).save(
        buffer, "JPEG", quality=quality
    )
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


@pytest.fixture
def two_sources(tmp_path):
    """clinic-a: 8 images (labels.csv with diagnoses); clinic-b: 6 new images + 3 re-encoded,
    resized copies of clinic-a images (the same lesions, as an archive would re-publish them)."""
    a, b = tmp_path / "clinic-a", tmp_path / "clinic-b"
    rows = ["file,label,diagnosis"]
    for i in range(8):
        label = "malignant" if i % 2 else "benign"
        _write(str(a / label / f"a{i}.jpg"), _texture(i), 96)
        rows.append(f"{label}/a{i}.jpg,{label},{'mel' if i % 2 else 'nv'}")
    (a / "labels.csv").write_text("\n".join(rows) + "\n")
    for i in range(6):
        label = "malignant" if i % 2 else "benign"
        _write(str(b / label / f"b{i}.jpg"), _texture(100 + i), 128)
    for i in (0, 1, 2):  # copies of a0 (benign), a1 (malignant), a2 (benign): other size, other quality
        label = "malignant" if i % 2 else "benign"
        _write(str(b / label / f"copy_of_a{i}.jpg"), _texture(i), 128, quality=75)
    return str(a), str(b)


def test_every_image_keeps_its_source_and_diagnosis(two_sources):
    split = sources.list_datasets(",".join(two_sources))
    assert split.source_counts() == {
        "clinic-a": {"benign": 4, "malignant": 4},
        "clinic-b": {"benign": 5, "malignant": 4},
    }
    by_name = {
        os.path.basename(p): (s, d)
        for p, s, d in zip(split.paths, split.sources, split.diagnoses, strict=True)
    }
    assert by_name["a1.jpg"] == ("clinic-a", "mel") and by_name["a0.jpg"] == ("clinic-a", "nv")
    assert by_name["b0.jpg"] == ("clinic-b", "")  # no labels.csv: the folder's name is the source


def test_a_source_column_in_labels_csv_wins_over_the_folder_name(tmp_path):
    _write(str(tmp_path / "benign" / "x.jpg"), _texture(1), 64)
    _write(str(tmp_path / "malignant" / "y.jpg"), _texture(2), 64)
    (tmp_path / "labels.csv").write_text(
        "file,label,diagnosis,source\nbenign/x.jpg,benign,nevus,Hospital A\nmalignant/y.jpg,malignant,,\n"
    )
    split = sources.list_dataset(str(tmp_path))
    assert split.sources == ("Hospital A", os.path.basename(tmp_path))
    assert split.diagnoses == ("nevus", "")


def test_near_duplicates_across_sources_are_dropped_before_splitting(two_sources):
    split = sources.list_datasets(",".join(two_sources))
    images, ok = data.decode_images(split.paths, 64)
    assert len(ok) == len(split) == 17
    report = sources.deduplicate(split, sources.fingerprints(images))
    kept = split.select(report.kept)
    assert report.dropped_cross_source == 3 and report.dropped_label_conflict == 0
    assert not any("copy_of" in p for p in kept.paths)  # the first source keeps its copy
    assert sum(p.endswith(("a0.jpg", "a1.jpg", "a2.jpg")) for p in kept.paths) == 3
    assert kept.source_counts() == {
        "clinic-a": {"benign": 4, "malignant": 4},
        "clinic-b": {"benign": 3, "malignant": 3},
    }
    assert report.as_dict()["dropped_cross_source"] == 3


def test_a_split_keeps_a_duplicate_group_on_one_side():
    split = sources.Split(
        tuple(f"f{i}" for i in range(20)), tuple([0] * 10 + [1] * 10), ("s",) * 20, ("",) * 20
    )
    groups = np.arange(20)
    groups[[1, 2, 3]] = 1  # three photos of one benign lesion
    groups[[11, 12]] = 11  # two of one malignant lesion
    for seed in range(10):
        rest, held = sources.grouped_stratified_split(split, groups, 0.3, seed)
        assert set(rest).isdisjoint(held) and len(rest) + len(held) == 20
        for group in ({1, 2, 3}, {11, 12}):
            assert group <= set(held) or group <= set(rest)
        assert 0 < sum(split.labels[i] for i in held) < len(held)  # both classes held out


def test_diagnosis_masks_use_each_sources_labels_as_meant():
    def allowed(label, diagnosis):
        mask = sources.diagnosis_mask(label, diagnosis)
        return {d for d, m in zip(DIAGNOSES, mask, strict=True) if m}

    assert allowed(1, "mel") == {"mel"}
    assert allowed(1, "akiec/scc") == {"akiec"}
    assert allowed(0, "nv_or_sk") == {"nv", "bkl"}  # isic-2017: naevus or seborrhoeic keratosis
    assert allowed(1, "") == {"mel", "bcc", "akiec"}  # a bare label allows every diagnosis of its class
    assert allowed(0, "") == {"nv", "bkl", "df", "vasc"}
    assert allowed(0, "mel") == {"nv", "bkl", "df", "vasc"}  # a contradiction: the label wins


def test_melanoma_or_benign_selects_benign_and_melanoma_only():
    split = sources.Split(("a", "b", "c", "d"), (0, 1, 1, 1), ("s",) * 4, ("nv", "mel", "bcc", ""))
    assert sources.is_melanoma_or_benign(split).tolist() == [True, True, False, False]


def test_the_archive_import_gives_each_image_its_clinic_as_source_and_a_short_diagnosis():
    from isic_import.importer import LABELS_FIELDS, UNATTRIBUTED_SOURCE, short_diagnosis

    assert {"source", "diagnosis"} <= set(LABELS_FIELDS)
    assert (
        short_diagnosis("Melanoma, NOS") == "mel" and short_diagnosis("Melanoma arising in a nevus") == "mel"
    )
    assert short_diagnosis("Nevus") == "nv" and short_diagnosis("Seborrheic keratosis") == "bkl"
    assert short_diagnosis("Basal cell carcinoma") == "bcc" and short_diagnosis("Something new") == ""
    assert UNATTRIBUTED_SOURCE  # an image without attribution still gets a source


def test_an_imported_folder_keeps_the_archives_sources(tmp_path):
    for label, name in (("benign", "ISIC_1"), ("malignant", "ISIC_2"), ("benign", "ISIC_3")):
        _write(str(tmp_path / label / f"{name}.jpg"), _texture(len(name)), 64)
    (tmp_path / "labels.csv").write_text(
        "file,label,isic_id,diagnosis_1,diagnosis_3,copyright_license,attribution,diagnosis,source\n"
        "benign/ISIC_1.jpg,benign,ISIC_1,Benign,Nevus,CC-0,Clinic A,nv,Clinic A\n"
        'malignant/ISIC_2.jpg,malignant,ISIC_2,Malignant,"Melanoma, NOS",CC-0,Clinic B,mel,Clinic B\n'
        "benign/ISIC_3.jpg,benign,ISIC_3,Benign,Nevus,CC-0,Clinic B,nv,Clinic B\n"
    )
    split = sources.list_dataset(str(tmp_path))
    assert split.source_counts() == {
        "Clinic A": {"benign": 1, "malignant": 0},
        "Clinic B": {"benign": 1, "malignant": 1},
    }
