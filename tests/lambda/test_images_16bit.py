"""16-bit greyscale PNGs (what medical and scientific tools write) keep their brightness through the
Lambda's re-encode. Pillow's convert("RGB") clips 16-bit values above 255 to white, which made
such an upload a white square: the not-a-lesion guard then refused it (found by
tests/reliability/test_bad_input.py's png_16bit case once the guard learned to refuse overexposed
photos)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from predict_api.images import prepare_image


def _png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_sixteen_bit_greyscale_png_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1))  # 8-bit levels 0..255
    prepared = prepare_image(_png16(ramp * 257))  # the same levels at 16 bits
    assert Image.open(io.BytesIO(_png16(ramp * 257))).mode.startswith("I")
    assert prepared.reencoded and prepared.source_format == "PNG"
    out = np.asarray(Image.open(io.BytesIO(prepared.body)).convert("L"), dtype=float)
    assert out.shape == (64, 64)
    # JPEG keeps the ramp within a few levels; clipping would have made nearly all of it 255.
    assert abs(out.mean() - ramp.mean()) < 4
    assert out[:, :4].mean() < 10 and out[:, -4:].mean() > 245
