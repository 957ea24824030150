"""The data pipeline: discovery, stratified split, class weights, decode-once cache, corrupt files."""

from __future__ import annotations

import numpy as np
import pytest
from lesion_model import data
from lesion_model.augment import make_augmentation

from .helpers import write_folder_dataset


def test_list_folder_dataset_labels_benign_0_and_malignant_1(tiny_dataset):
    split = data.list_folder_dataset(tiny_dataset)
    assert split.class_counts() == {"benign": 25, "malignant": 16}  # 24 + 1 corrupt benign
    assert all(("/benign/" in p) == (y == 0) for p, y in zip(split.paths, split.labels, strict=True))


def test_list_folder_dataset_names_the_missing_class_folder(tmp_path):
    (tmp_path / "benign").mkdir()
    with pytest.raises(FileNotFoundError, match="malignant"):
        data.list_folder_dataset(str(tmp_path))


def test_stratified_split_keeps_class_ratio_is_disjoint_and_reproducible():
    labels = tuple([0] * 80 + [1] * 20)
    everything = data.Split(tuple(f"f{i}.jpg" for i in range(100)), labels)
    train, val = data.stratified_split(everything, 0.25, seed=7)
    assert val.class_counts() == {"benign": 20, "malignant": 5}
    assert set(train.paths).isdisjoint(val.paths) and len(train) + len(val) == 100
    assert data.stratified_split(everything, 0.25, seed=7)[1] == val
    assert data.stratified_split(everything, 0.25, seed=8)[1] != val


def test_class_weights_balance_the_classes():
    weights = data.class_weights([0] * 75 + [1] * 25)
    assert weights[1] / weights[0] == pytest.approx(3.0)
    assert 75 * weights[0] + 25 * weights[1] == pytest.approx(100)  # mean weight per sample is 1


def test_class_weights_reject_a_missing_class():
    with pytest.raises(ValueError, match="at least one"):
        data.class_weights([0, 0, 0])


def test_load_cached_skips_and_counts_corrupt_files(tmp_path):
    root = write_folder_dataset(tmp_path, 5, 4, corrupt=2)
    cached, skipped = data.load_cached(data.list_folder_dataset(root), image_size=32)
    images = list(cached.as_numpy_iterator())
    assert skipped == 2 and len(images) == 9
    assert images[0][0].shape == (32, 32, 3) and images[0][0].dtype == np.uint8


def test_training_pipeline_batches_augmented_float_images(tmp_path):
    root = write_folder_dataset(tmp_path, 6, 4)
    cached, _ = data.load_cached(data.list_folder_dataset(root), image_size=32)
    ds = data.training_pipeline(cached, batch_size=4, augment=make_augmentation("dermoscopy", 1), seed=1)
    x, y = next(iter(ds))
    assert x.shape == (4, 32, 32, 3) and x.dtype.name == "float32" and y.shape == (4,)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    assert sum(int(b[1].shape[0]) for b in ds) == 10  # every image once per epoch
