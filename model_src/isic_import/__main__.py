"""Command line of the ISIC import: `python -m isic_import --output DIR [--limit N] …`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from isic_import import DEFAULT_API_URL, DEFAULT_QUERIES
from isic_import.archive import ArchiveError
from isic_import.importer import ImportSettings, run_import

log = logging.getLogger("isic_import")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m isic_import", description=__doc__)
    parser.add_argument(
        "--output", required=True, type=Path, help="folder to write benign/, malignant/, manifest.json"
    )
    parser.add_argument(
        "--api-url", default=DEFAULT_API_URL, help="ISIC Archive API base (default: %(default)s)"
    )
    parser.add_argument(
        "--benign-query", default=DEFAULT_QUERIES["benign"], help="search query of the benign class"
    )
    parser.add_argument(
        "--malignant-query", default=DEFAULT_QUERIES["malignant"], help="search query of the malignant class"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="most images in total, split over the classes (0: all)"
    )
    parser.add_argument("--image-size", type=int, default=224, help="square side the images are resized to")
    parser.add_argument("--workers", type=int, default=16, help="parallel downloads")
    parser.add_argument("--page-size", type=int, default=100, help="search results per API page")
    parser.add_argument("--dataset-id", default="", help="identifier recorded in the manifest")
    parser.add_argument(
        "--skip-if-exists", action="store_true", help="do nothing when OUTPUT/manifest.json exists"
    )
    args = parser.parse_args(argv)
    if args.limit < 0 or args.image_size < 32 or args.workers < 1 or not 1 <= args.page_size <= 100:
        parser.error("--limit must be >= 0, --image-size >= 32, --workers >= 1, --page-size 1..100")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.skip_if_exists and (args.output / "manifest.json").exists():
        log.info("%s/manifest.json exists: nothing to import", args.output)
        return 0
    settings = ImportSettings(
        api_url=args.api_url,
        queries={"benign": args.benign_query, "malignant": args.malignant_query},
        output=args.output,
        image_size=args.image_size,
        limit=args.limit,
        workers=args.workers,
        page_size=args.page_size,
        dataset_id=args.dataset_id,
    )
    try:
        manifest = run_import(settings)
    except ArchiveError as err:
        log.error("the ISIC Archive search failed: %s", err)
        return 2
    log.info("manifest: %s", json.dumps(manifest["class_counts"]))
    counts = manifest["class_counts"]
    if not isinstance(counts, dict) or min(counts.values(), default=0) < 1:
        log.error("the import needs images of both classes, got %s", counts)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
