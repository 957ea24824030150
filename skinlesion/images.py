"""Reading image files for the API: the content type to declare, and downscaling.

The API judges what is an image; the client only declares the type it believes the
bytes have (from their magic bytes, else the file name) and shrinks files that the
API could not accept, the way the web page does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import lesion_contract as contract

# Above this many bytes the request never reaches the handler; above this many pixels it answers 422.
MAX_IMAGE_BYTES = contract.MAX_IMAGE_BYTES
MAX_IMAGE_PIXELS = contract.MAX_IMAGE_PIXELS
# What a too-large image becomes: what the Lambda would shrink it to anyway (the web page's choice
# too), well above the model's input size.
DOWNSCALE_LONGER_SIDE = contract.ENDPOINT_MAX_SIDE_PX
DOWNSCALE_JPEG_QUALITY = contract.ENDPOINT_JPEG_QUALITY
GENERIC_IMAGE_TYPE = contract.ENDPOINT_CONTENT_TYPE

_BY_EXTENSION = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


class ImageFileError(Exception):
    """A file that cannot be sent; the message is meant for the user."""


@dataclass(frozen=True)
class PreparedImage:
    """The bytes to send, their content type, and whether the client shrank them."""

    data: bytes
    content_type: str
    downscaled: bool = False


def sniff_content_type(data: bytes) -> str | None:
    """The image type the magic bytes say, or None when they match no type the API takes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def content_type_for(path: Path, data: bytes) -> str:
    """Magic bytes first (a PNG named .jpg is a PNG), then the extension, then the generic type."""
    return sniff_content_type(data) or _BY_EXTENSION.get(path.suffix.lower(), GENERIC_IMAGE_TYPE)


def read_image(path: Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> PreparedImage:
    """Read `path` for sending; raise ImageFileError with a one-line reason when it cannot be."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageFileError("no such file") from None
    except IsADirectoryError:
        raise ImageFileError("is a directory, not an image file") from None
    except PermissionError:
        raise ImageFileError("permission denied") from None
    except OSError as exc:
        raise ImageFileError(f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise ImageFileError("empty file")
    content_type = content_type_for(path, data)
    if len(data) <= max_bytes and not _too_many_pixels(data):
        return PreparedImage(data, content_type)
    return PreparedImage(downscale(data, max_bytes=max_bytes), "image/jpeg", downscaled=True)


def _too_many_pixels(data: bytes) -> bool:
    """Whether the header declares more pixels than the API takes (reads the header only)."""
    try:
        from PIL import Image, UnidentifiedImageError
        from PIL.Image import DecompressionBombError
    except ImportError:  # without Pillow the API's 422 says the same, a round trip later
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except DecompressionBombError:
        return True
    except (UnidentifiedImageError, OSError, ValueError):  # not an image Pillow knows: the API decides
        return False
    return width * height > MAX_IMAGE_PIXELS


def downscale(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """Re-encode as JPEG with the longer side at most DOWNSCALE_LONGER_SIDE pixels."""
    try:
        from PIL import Image, UnidentifiedImageError
        from PIL.Image import DecompressionBombError
    except ImportError:  # Pillow is a dependency; a stripped environment gets a clear reason
        raise ImageFileError(
            f"larger than the API's {max_bytes:,} bytes and Pillow is not installed to shrink it"
        ) from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            # JPEG: decode at a reduced scale straight away (far less memory for camera photos).
            image.draft("RGB", (DOWNSCALE_LONGER_SIDE, DOWNSCALE_LONGER_SIDE))
            image.thumbnail((DOWNSCALE_LONGER_SIDE, DOWNSCALE_LONGER_SIDE))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=DOWNSCALE_JPEG_QUALITY)
    except (UnidentifiedImageError, DecompressionBombError, OSError, ValueError) as exc:
        raise ImageFileError(
            f"larger than the API's {max_bytes:,} bytes and not an image that can be shrunk ({exc})"
        ) from None
    result = out.getvalue()
    if len(result) > max_bytes:  # only for pathological inputs; say so rather than send a doomed request
        raise ImageFileError(f"still {len(result):,} bytes after shrinking; the API takes {max_bytes:,}")
    return result
