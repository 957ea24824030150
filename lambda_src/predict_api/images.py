"""Is it an image the model can classify? Checked before paying for inference.

Order: magic bytes (400, names what the bytes look like), Pillow's header parse
with its decompression-bomb guard (422 when too many pixels), dimension bounds
(422), the full decode (400 when corrupt or truncated). Then the image is made
endpoint-ready: the model graph decodes JPEG and PNG itself, so those pass
through untouched when small and upright; anything else (WebP, rotated by EXIF,
larger than ENDPOINT_MAX_SIDE_PX, an odd pixel mode) is re-encoded as an upright
RGB JPEG, which keeps the endpoint request far below its 6 MB limit.
"""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import lesion_contract as contract
from predict_api.errors import BadRequest, ImageRejected

if TYPE_CHECKING:
    from PIL import Image

_ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
_DISPLAY_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
# Pixel modes the model graph's decode_jpeg / decode_png(channels=3) handle as they are.
_PASS_THROUGH_MODES = {"JPEG": {"RGB", "L"}, "PNG": {"RGB", "RGBA", "L", "LA", "P"}}
_EXIF_ORIENTATION = 0x0112
# Signatures of what clients send by mistake, to name it in the error message.
_OTHER_SIGNATURES = (
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"BM", "a BMP"),
    (b"II*\x00", "a TIFF"),
    (b"MM\x00*", "a TIFF"),
    (b"%PDF", "a PDF"),
    (b"{", "JSON or text"),
)


@dataclass(frozen=True)
class PreparedImage:
    """The bytes to send to the endpoint, and what was learnt about the upload."""

    body: bytes
    source_format: str  # JPEG, PNG or WEBP (what was uploaded)
    width: int  # of the upload, before orientation and downscaling
    height: int
    received_bytes: int
    reencoded: bool


@functools.cache
def _pillow() -> tuple[ModuleType, ModuleType]:
    """PIL.Image and PIL.ImageOps, loaded on the first upload: other routes' cold starts skip Pillow."""
    from PIL import Image, ImageOps

    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; _open turns both into a 422.
    Image.MAX_IMAGE_PIXELS = contract.MAX_IMAGE_PIXELS
    return Image, ImageOps


def sniff_format(data: bytes) -> str | None:
    """JPEG / PNG / WEBP from the magic bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def prepare_image(data: bytes) -> PreparedImage:
    """Validate `data` and return what the endpoint should receive; raises 400/422 ApiErrors."""
    fmt = sniff_format(data)
    if fmt is None:
        raise BadRequest(f"The body is not a JPEG, PNG or WebP image{_looks_like(data)}.")
    image = _open(data, fmt)
    width, height = image.size
    _check_dimensions(width, height)
    if fmt == "JPEG" and max(width, height) > contract.ENDPOINT_MAX_SIDE_PX:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 12 MP photo decodes several times faster.
        side = contract.ENDPOINT_MAX_SIDE_PX
        image.draft("RGB", (side, side))
    _decode(image, fmt)
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    needs_reencode = (
        fmt not in _PASS_THROUGH_MODES
        or image.mode not in _PASS_THROUGH_MODES[fmt]
        or max(width, height) > contract.ENDPOINT_MAX_SIDE_PX
        or orientation not in (None, 1)
    )
    body = _reencode(image) if needs_reencode else data
    return PreparedImage(
        body=body,
        source_format=fmt,
        width=width,
        height=height,
        received_bytes=len(data),
        reencoded=needs_reencode,
    )


def _looks_like(data: bytes) -> str:
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return f" (it looks like {name})"
    return ""


def _open(data: bytes, fmt: str) -> Image.Image:
    """Parse the header only; refuses too many pixels before any decoding happens."""
    pil, _ = _pillow()
    too_many = ImageRejected(
        f"The image has too many pixels; the limit is {contract.MAX_IMAGE_PIXELS:,}. Downscale it."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", pil.DecompressionBombWarning)
        try:
            image: Image.Image = pil.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)
            return image
        except (pil.DecompressionBombError, pil.DecompressionBombWarning):
            raise too_many from None
        except MemoryError:
            raise
        except Exception:
            # Pillow raises many types on malformed headers; all of them mean the bytes are bad.
            raise BadRequest(
                f"The {_DISPLAY_NAMES[fmt]} header is corrupt: the file could not be read as an image."
            ) from None


def _check_dimensions(width: int, height: int) -> None:
    smallest = contract.MIN_IMAGE_SIDE_PX
    if min(width, height) < smallest:
        raise ImageRejected(
            f"The image is {width}x{height} px; each side must be at least {smallest} px to be classified."
        )
    if width * height > contract.MAX_IMAGE_PIXELS:
        raise ImageRejected(
            f"The image is {width}x{height} px ({width * height:,} pixels); "
            f"the limit is {contract.MAX_IMAGE_PIXELS:,} pixels. Downscale it."
        )


def _decode(image: Image.Image, fmt: str) -> None:
    try:
        image.load()
    except MemoryError:
        raise
    except Exception:
        # Truncated uploads land here (Pillow refuses truncated files by default), as does bad data.
        raise BadRequest(
            f"The {_DISPLAY_NAMES[fmt]} image is corrupt or truncated: it could not be decoded. "
            "Send the complete file."
        ) from None


def _reencode(image: Image.Image) -> bytes:
    pil, image_ops = _pillow()
    upright = image_ops.exif_transpose(image)
    if upright.mode.startswith("I;16") or upright.mode == "I":
        # 16-bit greyscale (PNG): Pillow's convert("RGB") clips every value above 255 to white;
        # scale the 0..65535 range down to 0..255 instead.
        upright = upright.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    rgb = upright.convert("RGB")
    side = contract.ENDPOINT_MAX_SIDE_PX
    rgb.thumbnail((side, side), pil.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=contract.ENDPOINT_JPEG_QUALITY)
    return out.getvalue()
