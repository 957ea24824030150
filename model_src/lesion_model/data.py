"""Dataset discovery, stratified splits, class weights and the tf.data pipelines.

Input: a folder with one sub-folder per class (`benign/`, `malignant/`), the layout
the import step (model_src/isic_import) also writes. Each image is read and decoded
once, resized to the training size and cached as uint8; only augmentation runs per
epoch. Unreadable files are dropped and counted, never fatal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lesion_model import CLASS_NAMES, class_image_files
from lesion_model.preprocess import decode_and_resize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """File paths and integer labels (0 benign, 1 malignant) of one part of a dataset."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(CLASS_NAMES))
        return {name: int(n) for name, n in zip(CLASS_NAMES, counts, strict=True)}


def list_folder_dataset(root: str) -> Split:
    """All images under root/<class>/ (recursively), sorted so the order is reproducible."""
    found = class_image_files(root)
    return Split(tuple(path for _, path in found), tuple(label for label, _ in found))


def stratified_split(data: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Split off `fraction` of each class (at least one image per class) with a fixed seed."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    held: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        take = max(1, int(round(len(members) * fraction)))
        if take >= len(members):
            raise ValueError(f"class {CLASS_NAMES[label]!r} has too few images ({len(members)}) to split")
        held.extend(members[:take].tolist())
    held_set = set(held)
    rest = [i for i in range(len(data)) if i not in held_set]
    held.sort()

    def pick(idx: list[int]) -> Split:
        return Split(tuple(data.paths[i] for i in idx), tuple(data.labels[i] for i in idx))

    return pick(rest), pick(held)


def class_weights(labels: tuple[int, ...] | list[int]) -> dict[int, float]:
    """Inverse-frequency weights, normalised so the mean weight per sample is 1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(CLASS_NAMES))
    if (counts == 0).any():
        raise ValueError(f"every class needs at least one training image, got counts {counts.tolist()}")
    total = counts.sum()
    return {i: float(total / (len(counts) * n)) for i, n in enumerate(counts)}


def load_cached(split: Split, image_size: int, cache_file: str = "") -> tuple[tf.data.Dataset, int]:
    """Decode + resize every image once into a cached uint8 dataset; returns (dataset, n_skipped).

    `cache_file` "" keeps the cache in memory; a path spills it to disk (for sets too big for RAM).
    """
    ds = tf.data.Dataset.from_tensor_slices((list(split.paths), list(split.labels)))

    def read(path, label):
        image = decode_and_resize(tf.io.read_file(path), image_size)
        # uint8 keeps the cache 4x smaller; rounding moves pixels by at most 0.5 of 255.
        return tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8), label

    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=False).cache(cache_file)
    # One full pass fills the cache and counts what decoded; training then never decodes again.
    kept = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    skipped = len(split) - kept
    ds = ds.apply(tf.data.experimental.assert_cardinality(kept))  # lets fit() size its LR schedule
    if skipped:
        log.warning("skipped %d of %d unreadable or undecodable images", skipped, len(split))
    return ds, skipped


def training_pipeline(cached: tf.data.Dataset, batch_size: int, augment, seed: int) -> tf.data.Dataset:
    """Shuffle, batch and augment (per batch, in parallel) the cached images, with prefetch.

    augment=None leaves augmentation to the model's training step (on a GPU it is
    cheaper there, and then the input pipeline does almost nothing per epoch).
    """
    ds = cached.shuffle(4096, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return _augment_batches(ds, augment)


def eval_pipeline(cached: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Batches of float images in file order, for validation and scoring."""
    ds = cached.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.prefetch(tf.data.AUTOTUNE)


def seed_pipeline(root: str, image_size: int, batch_size: int, augment, seed: int) -> tf.data.Dataset:
    """The original system's input pipeline (decodes every JPEG every epoch), for benchmarks only."""
    ds = tf.keras.utils.image_dataset_from_directory(
        root,
        class_names=list(CLASS_NAMES),
        image_size=(image_size, image_size),
        batch_size=batch_size,
        seed=seed,
        label_mode="int",
        shuffle=True,
        verbose=False,
    )
    ds = ds.map(lambda x, y: (augment(x, training=True), y))
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- multi-source arrays (issue 13)


def decode_images(paths, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode + resize every file once: (uint8 [n_ok, S, S, 3], indices of the files that decoded)."""
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), list(paths)))

    def read(i, path):
        image = decode_and_resize(tf.io.read_file(path), image_size)
        return i, tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8)

    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors(
        log_warning=False
    )
    index, images = [], []
    for i, image in ds.batch(256).as_numpy_iterator():
        index.append(i)
        images.append(image)
    if not index:
        return np.zeros((0, image_size, image_size, 3), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(index)


def balanced_pipeline(
    images: np.ndarray, targets: np.ndarray, strata: np.ndarray, batch_size: int, augment, seed: int
) -> tf.data.Dataset:
    """An epoch of len(images) samples drawn with equal probability from every stratum
    (e.g. each source x class), so a big source or class does not dominate the gradient."""
    tensor_images = tf.constant(images)
    tensor_targets = tf.constant(targets)
    per_stratum = [
        tf.data.Dataset.from_tensor_slices(np.flatnonzero(strata == s)).shuffle(4096, seed=seed + k).repeat()
        for k, s in enumerate(np.unique(strata))
    ]
    index = tf.data.Dataset.sample_from_datasets(per_stratum, seed=seed).take(len(images))
    ds = index.batch(batch_size).map(lambda i: (tf.gather(tensor_images, i), tf.gather(tensor_targets, i)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(len(images) / batch_size)))
    return _augment_batches(ds, augment)


def shuffled_pipeline(
    images: np.ndarray, targets: np.ndarray, batch_size: int, augment, seed: int
) -> tf.data.Dataset:
    """Every image once per epoch, shuffled (the natural source and class mix)."""
    tensor_images = tf.constant(images)
    tensor_targets = tf.constant(targets)
    index = tf.data.Dataset.range(len(images)).shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = index.batch(batch_size).map(lambda i: (tf.gather(tensor_images, i), tf.gather(tensor_targets, i)))
    return _augment_batches(ds, augment)


def _augment_batches(ds: tf.data.Dataset, augment) -> tf.data.Dataset:
    if augment is None:
        return ds.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(tf.data.AUTOTUNE)
    ds = ds.map(
        lambda x, y: (augment(tf.cast(x, tf.float32), training=True), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def array_eval_pipeline(images: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of float images in order (no labels), for scoring."""
    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
    return ds.map(lambda x: tf.cast(x, tf.float32)).prefetch(tf.data.AUTOTUNE)
