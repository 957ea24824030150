"""A small client for the ISIC Archive API v2: paged search and file download, with retries."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

USER_AGENT = "skinlesion-isic-import/1 (Python urllib)"
_RETRY_STATUS = (429, 500, 502, 503, 504)


class ArchiveError(RuntimeError):
    """The archive answered with an error that retrying did not fix."""


@dataclass(frozen=True)
class ImageRecord:
    """The parts of one search result the import uses."""

    isic_id: str
    url: str
    diagnosis_1: str
    diagnosis_3: str
    license: str
    attribution: str


def fetch(url: str, *, attempts: int = 4, timeout: float = 30.0, backoff: float = 1.0) -> bytes:
    """GET `url`; retries connection errors, 429 and 5xx with exponential backoff."""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https API)
                return bytes(response.read())
        except urllib.error.HTTPError as err:
            if err.code not in _RETRY_STATUS or attempt == attempts:
                raise ArchiveError(f"GET {url}: HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            if attempt == attempts:
                raise ArchiveError(f"GET {url}: {err}") from err
        time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def search_url(api_url: str, query: str, page_size: int) -> str:
    params = urllib.parse.urlencode({"query": query, "limit": page_size})
    return urllib.parse.urljoin(api_url, "images/search/") + "?" + params


def search(
    api_url: str, query: str, *, page_size: int = 100, backoff: float = 1.0
) -> Iterator[dict[str, Any]]:
    """Every search result for `query`, following the `next` cursor URL page by page."""
    url: str | None = search_url(api_url, query, page_size)
    while url:
        page = json.loads(fetch(url, backoff=backoff))
        yield from page.get("results", [])
        url = page.get("next")


def pick_file_url(files: dict[str, Any], image_size: int) -> str:
    """The 256 px thumbnail when it covers the training size (far fewer bytes), else the full image."""
    thumbnail = (files.get("thumbnail_256") or {}).get("url")
    full = (files.get("full") or {}).get("url")
    if thumbnail and image_size <= 256:
        return str(thumbnail)
    if full:
        return str(full)
    if thumbnail:
        return str(thumbnail)
    raise KeyError("result has neither files.full.url nor files.thumbnail_256.url")


def to_record(result: dict[str, Any], image_size: int) -> ImageRecord:
    """Pick the fields of one search result (KeyError when it has no id or no file)."""
    clinical = (result.get("metadata") or {}).get("clinical") or {}
    return ImageRecord(
        isic_id=str(result["isic_id"]),
        url=pick_file_url(result.get("files") or {}, image_size),
        diagnosis_1=str(clinical.get("diagnosis_1") or ""),
        diagnosis_3=str(clinical.get("diagnosis_3") or ""),
        license=str(result.get("copyright_license") or "unknown"),
        attribution=str(result.get("attribution") or ""),
    )
