"""The import itself: search each class, download in parallel, resize once, write folder + manifest."""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from isic_import import EXPECTED_DIAGNOSIS_1, MANIFEST_FORMAT
from isic_import.archive import ArchiveError, ImageRecord, fetch, search, to_record

log = logging.getLogger(__name__)

LABELS_FIELDS = (
    "file", "label", "isic_id", "diagnosis_1", "diagnosis_3", "copyright_license", "attribution",
    "diagnosis", "source",
)  # fmt: skip
# train.py reads `diagnosis` (its short names) and `source` (the contributing clinic or
# collection: each image keeps it, for per-source metrics and source-balanced sampling).
_SHORT_DIAGNOSES = (  # first match wins: "melanoma" before "nevus" (e.g. "melanoma arising in a nevus")
    ("melanoma", "mel"),
    ("basal cell", "bcc"),
    ("squamous", "akiec"),
    ("actinic", "akiec"),
    ("bowen", "akiec"),
    ("seborrheic", "bkl"),
    ("lentigo", "bkl"),
    ("lichen planus", "bkl"),
    ("dermatofibroma", "df"),
    ("angioma", "vasc"),
    ("angiokeratoma", "vasc"),
    ("vascular", "vasc"),
    ("pyogenic granuloma", "vasc"),
    ("nevus", "nv"),
    ("naevus", "nv"),
)
UNATTRIBUTED_SOURCE = "isic-archive-unattributed"


def short_diagnosis(diagnosis_3: str) -> str:
    """The archive's diagnosis_3 (e.g. "Melanoma, NOS", "Nevus") as train.py's short name, or ""."""
    text = diagnosis_3.lower()
    return next((short for needle, short in _SHORT_DIAGNOSES if needle in text), "")


@dataclass(frozen=True)
class ImportSettings:
    """One import run; `limit` 0 means every image the queries return."""

    api_url: str
    queries: dict[str, str]
    output: Path
    image_size: int = 224
    limit: int = 0
    workers: int = 16
    page_size: int = 100
    dataset_id: str = ""
    backoff: float = 1.0

    def class_caps(self) -> dict[str, int | None]:
        """Split the limit over the classes (benign gets the odd one); None = no cap."""
        if self.limit <= 0:
            return {label: None for label in self.queries}
        labels = sorted(self.queries)
        base, extra = divmod(self.limit, len(labels))
        return {label: base + (1 if i < extra else 0) for i, label in enumerate(labels)}


@dataclass
class Tally:
    """What happened to each candidate image."""

    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def resize_jpeg(data: bytes, size: int) -> bytes:
    """Decode any format Pillow reads, convert to RGB, resize to size x size, encode as JPEG.

    Squashing to a square (no crop) matches the serving graph, which resizes the
    whole uploaded photo to the model's input size the same way.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=95)
    return out.getvalue()


def _candidates(settings: ImportSettings, label: str, seen: set[str], tally: Tally) -> Iterator[ImageRecord]:
    expected = EXPECTED_DIAGNOSIS_1.get(label)
    for result in search(
        settings.api_url, settings.queries[label], page_size=settings.page_size, backoff=settings.backoff
    ):
        try:
            record = to_record(result, settings.image_size)
        except KeyError:
            tally.skipped["no_file"] += 1
            continue
        if record.isic_id in seen:
            tally.skipped["duplicate"] += 1
            continue
        if expected and record.diagnosis_1 and record.diagnosis_1 != expected:
            tally.skipped["label_mismatch"] += 1
            continue
        seen.add(record.isic_id)
        yield record


def _download(settings: ImportSettings, label: str, record: ImageRecord) -> tuple[dict[str, str] | None, str]:
    try:
        jpeg = resize_jpeg(fetch(record.url, backoff=settings.backoff), settings.image_size)
    except ArchiveError as err:
        log.warning("skipping %s: %s", record.isic_id, err)
        return None, "download_failed"
    except (UnidentifiedImageError, OSError, ValueError) as err:
        log.warning("skipping %s: not a readable image (%s)", record.isic_id, err)
        return None, "undecodable"
    relative = f"{label}/{record.isic_id}.jpg"
    (settings.output / relative).write_bytes(jpeg)
    row = {
        "file": relative,
        "label": label,
        "isic_id": record.isic_id,
        "diagnosis_1": record.diagnosis_1,
        "diagnosis_3": record.diagnosis_3,
        "copyright_license": record.license,
        "attribution": record.attribution,
        "diagnosis": short_diagnosis(record.diagnosis_3),
        "source": record.attribution.strip() or UNATTRIBUTED_SOURCE,
    }
    return row, ""


def _import_class(
    settings: ImportSettings, label: str, cap: int | None, seen: set[str], tally: Tally
) -> None:
    (settings.output / label).mkdir(parents=True, exist_ok=True)
    written = 0
    candidates = _candidates(settings, label, seen, tally)
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        # Download in batches so a failed image is replaced by the next result and the cap holds.
        while cap is None or written < cap:
            batch = list(itertools.islice(candidates, settings.workers if cap is None else cap - written))
            if not batch:
                break
            for row, reason in pool.map(lambda r: _download(settings, label, r), batch):
                if row is None:
                    tally.skipped[reason] += 1
                else:
                    tally.rows.append(row)
                    written += 1
    log.info("%s: %d images", label, written)


def run_import(settings: ImportSettings) -> dict[str, object]:
    """Import every class, then write labels.csv, attribution.txt and manifest.json (last)."""
    settings.output.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    seen: set[str] = set()
    for label, cap in settings.class_caps().items():
        _import_class(settings, label, cap, seen, tally)
    tally.rows.sort(key=lambda row: row["file"])
    _write_labels(settings.output / "labels.csv", tally.rows)
    attributions = sorted({row["attribution"] for row in tally.rows if row["attribution"]})
    (settings.output / "attribution.txt").write_text("\n".join(attributions) + "\n", encoding="utf-8")
    manifest = build_manifest(settings, tally)
    # Written last: its presence means the folder is complete (the stack skips re-imports on it).
    (settings.output / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _write_labels(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LABELS_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def build_manifest(settings: ImportSettings, tally: Tally) -> dict[str, object]:
    counts = Counter(row["label"] for row in tally.rows)
    return {
        "format": MANIFEST_FORMAT,
        "dataset_id": settings.dataset_id,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "class_counts": {label: counts.get(label, 0) for label in sorted(settings.queries)},
        "total": len(tally.rows),
        "image_size": settings.image_size,
        "source": {
            "archive": "ISIC Archive (https://www.isic-archive.com)",
            "api_url": settings.api_url,
            "queries": dict(sorted(settings.queries.items())),
            "limit": settings.limit or None,
        },
        "licenses": dict(sorted(Counter(row["copyright_license"] for row in tally.rows).items())),
        "skipped": dict(sorted(tally.skipped.items())),
        "files": {"labels": "labels.csv", "attribution": "attribution.txt"},
    }
