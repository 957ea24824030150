"""Multi-source datasets: each image keeps its source and diagnosis; near duplicates go before splitting.

A dataset root is `<root>/benign/**` + `<root>/malignant/**` (the folder layout), with an
optional `labels.csv` beside them (columns `file`, `label`, and where known `diagnosis`
and `source`). Without a `source` column every image of the root has the root's folder
name as its source (`isic-dev`, `isic-2017`); the ISIC Archive import writes one per
image (the archive's attribution, i.e. the contributing clinic or collection).

Labels mean different things per source (isic-dev: malignant = melanoma, BCC, AK/SCC;
isic-2017: melanoma only, with keratoses benign), so each image carries the set of
diagnoses its label allows (`diagnosis_mask`): `mel` allows only melanoma, `nv_or_sk`
allows naevus or keratosis, a bare `benign` allows every benign diagnosis. The
diagnosis head is trained on exactly that set.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from lesion_model import CLASS_NAMES, DIAGNOSES, MALIGNANT_DIAGNOSES, class_image_files

log = logging.getLogger(__name__)

# Spellings in labels.csv files and the ISIC Archive's diagnosis_3 -> our diagnosis names.
DIAGNOSIS_ALIASES = {
    "nv": ("nv",),
    "nevus": ("nv",),
    "mel": ("mel",),
    "melanoma": ("mel",),
    "bcc": ("bcc",),
    "basal cell carcinoma": ("bcc",),
    "akiec": ("akiec",),
    "akiec/ak": ("akiec",),
    "akiec/scc": ("akiec",),
    "actinic keratosis": ("akiec",),
    "squamous cell carcinoma": ("akiec",),
    "bkl": ("bkl",),
    "sk": ("bkl",),
    "seborrheic keratosis": ("bkl",),
    "solar lentigo": ("bkl",),
    "lichen planus like keratosis": ("bkl",),
    "df": ("df",),
    "dermatofibroma": ("df",),
    "vasc": ("vasc",),
    "vascular lesion": ("vasc",),
    "nv_or_sk": ("nv", "bkl"),
}
BENIGN_DIAGNOSES = tuple(d for d in DIAGNOSES if d not in MALIGNANT_DIAGNOSES)


@dataclass(frozen=True)
class Split:
    """File paths and integer labels (0 benign, 1 malignant), with each image's source and diagnosis."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    sources: tuple[str, ...] = ()
    diagnoses: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.sources:
            object.__setattr__(self, "sources", ("unknown",) * len(self.paths))
        if not self.diagnoses:
            object.__setattr__(self, "diagnoses", ("",) * len(self.paths))

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(CLASS_NAMES))
        return {name: int(n) for name, n in zip(CLASS_NAMES, counts, strict=True)}

    def source_counts(self) -> dict[str, dict[str, int]]:
        return {
            s: self.select(np.asarray(self.sources) == s).class_counts() for s in sorted(set(self.sources))
        }

    def select(self, index) -> Split:
        """The images at `index` (a boolean mask or integer positions), in that order."""
        idx = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
        return Split(
            tuple(self.paths[i] for i in idx),
            tuple(self.labels[i] for i in idx),
            tuple(self.sources[i] for i in idx),
            tuple(self.diagnoses[i] for i in idx),
        )

    def concat(self, other: Split) -> Split:
        return Split(
            self.paths + other.paths,
            self.labels + other.labels,
            self.sources + other.sources,
            self.diagnoses + other.diagnoses,
        )


def diagnosis_mask(label: int, diagnosis: str) -> np.ndarray:
    """float32 [len(DIAGNOSES)]: 1 for every diagnosis this image's label allows.

    A known diagnosis that contradicts the benign/malignant label is ignored (the label wins).
    """
    allowed = DIAGNOSIS_ALIASES.get(diagnosis.strip().lower(), ())
    allowed = tuple(d for d in allowed if (d in MALIGNANT_DIAGNOSES) == bool(label))
    if not allowed:
        allowed = tuple(MALIGNANT_DIAGNOSES) if label else BENIGN_DIAGNOSES
    return np.asarray([d in allowed for d in DIAGNOSES], dtype=np.float32)


def diagnosis_masks(split: Split) -> np.ndarray:
    return np.stack([diagnosis_mask(y, d) for y, d in zip(split.labels, split.diagnoses, strict=True)])


def is_melanoma_or_benign(split: Split) -> np.ndarray:
    """Images that belong in a melanoma-against-benign comparison (malignant ones must be melanoma)."""
    masks = diagnosis_masks(split)
    mel_only = masks[:, DIAGNOSES.index("mel")] == 1
    single = masks.sum(axis=1) == 1
    return (np.asarray(split.labels) == 0) | (mel_only & single)


def list_dataset(root: str, source: str | None = None) -> Split:
    """Every image of one root, with labels.csv's diagnosis and source where it has them."""
    folder_source = source or os.path.basename(os.path.normpath(root))
    rows = _labels_csv(root)
    paths, labels, sources, diagnoses = [], [], [], []
    for label, path in class_image_files(root):
        row = rows.get(os.path.relpath(path, root).replace(os.sep, "/"), {})
        paths.append(path)
        labels.append(label)
        sources.append((row.get("source") or "").strip() or folder_source)
        diagnoses.append((row.get("diagnosis") or "").strip())
    return Split(tuple(paths), tuple(labels), tuple(sources), tuple(diagnoses))


def list_datasets(roots: list[str] | tuple[str, ...] | str) -> Split:
    """Several roots (a list, or one string with commas) as one Split; sources stay apart."""
    if isinstance(roots, str):
        roots = [r for r in roots.split(",") if r.strip()]
    combined = None
    for root in roots:
        part = list_dataset(root.strip())
        combined = part if combined is None else combined.concat(part)
    if combined is None:
        raise ValueError("no training data roots given")
    return combined


def _labels_csv(root: str) -> dict[str, dict[str, str]]:
    path = os.path.join(root, "labels.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"].strip(): row for row in csv.DictReader(f) if row.get("file")}


# ---------------------------------------------------------------- near duplicates

_HASH_SIZE = 32  # DCT of a 32x32 grey thumbnail; the 8x8 lowest frequencies make 64 bits


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


@dataclass(frozen=True)
class Fingerprints:
    """pHash (uint64 [N]) and a normalised 32x32 grey thumbnail (float32 [N, 1024]) per image."""

    hashes: np.ndarray
    thumbs: np.ndarray


def fingerprints(images: np.ndarray) -> Fingerprints:
    """Fingerprints of uint8/float images [N, S, S, 3].

    pHash: grey, area-resized to 32x32, 2-D DCT, the 8x8 lowest frequencies compared
    with their median (64 bits; robust to resizing, re-encoding and small colour changes).
    On dermoscopy a 64-bit pHash alone also matches different round lesions on skin, so a
    pair only counts as a duplicate when its thumbnails also correlate (see deduplicate).
    """
    images = np.asarray(images, dtype=np.float32)
    if len(images) == 0:
        return Fingerprints(np.zeros(0, np.uint64), np.zeros((0, _HASH_SIZE * _HASH_SIZE), np.float32))
    grey = images @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    thumbs = np.stack([_area_resize(g, _HASH_SIZE) for g in grey]).astype(np.float32)
    d = _dct_matrix(_HASH_SIZE).astype(np.float32)
    coeffs = np.einsum("ij,njk,lk->nil", d, thumbs, d)[:, :8, :8].reshape(len(images), 64)
    coeffs[:, 0] = np.median(coeffs[:, 1:], axis=1)  # DC only shifts brightness; neutralise it
    bits = coeffs > np.median(coeffs[:, 1:], axis=1, keepdims=True)
    hashes = np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)
    flat = thumbs.reshape(len(images), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)
    return Fingerprints(hashes, flat)


def _area_resize(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape
    ys = (np.arange(size + 1) * h) // size
    xs = (np.arange(size + 1) * w) // size
    rows = np.add.reduceat(image, ys[:-1], axis=0) / np.diff(ys)[:, None]
    return np.add.reduceat(rows, xs[:-1], axis=1) / np.diff(xs)[None, :]


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between every hash in a and every hash in b: int [len(a), len(b)]."""
    x = np.bitwise_xor(a[:, None], b[None, :])
    as_bytes = x.view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.int64)


def duplicate_groups(prints: Fingerprints, max_distance: int, min_correlation: float) -> np.ndarray:
    """Connected components of "pHash distance <= max_distance and thumbnail correlation >=
    min_correlation": a group id per image (the smallest index in its group)."""
    n = len(prints.hashes)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, 512):  # blocks keep the distance matrix small
        block = hamming_matrix(prints.hashes[start : start + 512], prints.hashes)
        for i, j in zip(*np.nonzero(block <= max_distance), strict=True):
            a_idx, b_idx = start + int(i), int(j)
            if a_idx >= b_idx or float(prints.thumbs[a_idx] @ prints.thumbs[b_idx]) < min_correlation:
                continue
            a, b = find(a_idx), find(b_idx)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.asarray([find(i) for i in range(n)])


@dataclass(frozen=True)
class DedupReport:
    kept: np.ndarray  # indices into the input, sorted
    groups: np.ndarray  # group id per kept image (same group = same lesion, keep in one split)
    dropped_cross_source: int
    dropped_exact_within_source: int
    dropped_label_conflict: int
    near_duplicate_groups_within_source: int
    max_distance: int
    min_correlation: float

    def as_dict(self) -> dict:
        return {
            "method": (
                f"64-bit DCT perceptual hash within {self.max_distance} bits and 32x32 grey thumbnail "
                f"correlation >= {self.min_correlation}"
            ),
            "kept": int(len(self.kept)),
            "dropped_cross_source": self.dropped_cross_source,
            "dropped_exact_within_source": self.dropped_exact_within_source,
            "dropped_label_conflict": self.dropped_label_conflict,
            "near_duplicate_groups_within_source_kept_together": self.near_duplicate_groups_within_source,
        }


def deduplicate(
    split: Split, prints: Fingerprints, max_distance: int = 6, min_correlation: float = 0.93
) -> DedupReport:
    """Drop near duplicates across sources (the first source in sort order keeps its copy),
    exact hash duplicates within a source, and whole groups whose labels disagree; near
    duplicates within a source stay as a group, so a split keeps them on one side."""
    groups = duplicate_groups(prints, max_distance, min_correlation)
    hashes = prints.hashes
    sources = np.asarray(split.sources)
    labels = np.asarray(split.labels)
    keep = np.ones(len(split), dtype=bool)
    cross = exact = conflict = within = 0
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) == 1:
            continue
        if len(set(labels[members].tolist())) > 1:
            keep[members] = False
            conflict += len(members)
            continue
        first_source = sorted(set(sources[members].tolist()))[0]
        other = members[sources[members] != first_source]
        keep[other] = False
        cross += len(other)
        same = members[sources[members] == first_source]
        seen: set[int] = set()
        for i in same:
            if int(hashes[i]) in seen:
                keep[i] = False
                exact += 1
            seen.add(int(hashes[i]))
        if keep[same].sum() > 1:
            within += 1
    kept = np.flatnonzero(keep)
    if cross or exact or conflict:
        log.info("duplicates: %d across sources, %d exact within a source, %d in label conflicts dropped",
                 cross, exact, conflict)  # fmt: skip
    return DedupReport(kept, groups[kept], cross, exact, conflict, within, max_distance, min_correlation)


def grouped_stratified_split(
    split: Split, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held): about `fraction` of every (source, class) stratum held out, whole
    duplicate groups at a time, at least one group per stratum."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    sources = np.asarray(split.sources)
    labels = np.asarray(split.labels)
    held: list[int] = []
    for stratum in sorted(set(zip(sources.tolist(), labels.tolist(), strict=True))):
        members = np.flatnonzero((sources == stratum[0]) & (labels == stratum[1]))
        stratum_groups = np.unique(groups[members])
        rng.shuffle(stratum_groups)
        target = max(1, int(round(len(members) * fraction)))
        if len(stratum_groups) < 2:
            raise ValueError(f"{stratum[0]}/{CLASS_NAMES[stratum[1]]} has too few images to split")
        taken = 0
        for g in stratum_groups[:-1]:
            if taken >= target:
                break
            chosen = members[groups[members] == g]
            held.extend(chosen.tolist())
            taken += len(chosen)
    held_arr = np.asarray(sorted(held), dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(split)), held_arr)
    return rest, held_arr


def stratum_counts(split: Split) -> dict[str, int]:
    pairs = zip(split.sources, split.labels, strict=True)
    return dict(sorted(Counter(f"{s}/{CLASS_NAMES[y]}" for s, y in pairs).items()))
