"""Small real images for the handler tests, generated (no files, no ../shared)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

EXIF_ORIENTATION = 0x0112


def lesion(size: tuple[int, int] = (224, 224)) -> Image.Image:
    """A skin-toned image with a dark blob: content that survives JPEG, and asymmetric for rotation tests."""
    width, height = size
    image = Image.new("RGB", size, (224, 172, 150))
    blob = Image.new("RGB", (max(1, width // 3), max(1, height // 4)), (90, 50, 40))
    image.paste(blob, (width // 8, height // 8))
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (224, 224), *, orientation: int | None = None, quality: int = 90) -> bytes:
    image = lesion(size)
    if orientation is None:
        return encode(image, "JPEG", quality=quality)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(image, "JPEG", quality=quality, exif=exif.tobytes())


def png(size: tuple[int, int] = (224, 224), *, mode: str = "RGB") -> bytes:
    return encode(lesion(size).convert(mode), "PNG")


def webp(size: tuple[int, int] = (224, 224)) -> bytes:
    return encode(lesion(size), "WEBP", quality=90)


def gif(size: tuple[int, int] = (224, 224)) -> bytes:
    return encode(lesion(size), "GIF")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares `width` x `height` with a tiny (invalid) IDAT: a decompression-bomb probe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
