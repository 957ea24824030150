"""Artefacts drawn onto lesion images (lesion_model.artefacts): the guard counts lesions with hair,
colour stickers and ink marks as lesions, because photos from real clinics carry them."""

from __future__ import annotations

import numpy as np
import pytest
from lesion_model import artefacts
from lesion_model.artefacts import KINDS, with_artefacts


def _skin(n: int, size: int = 96, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.array([225.0, 180.0, 160.0])
    return np.clip(base + rng.normal(0, 4, (n, size, size, 3)), 0, 255).astype(dtype)


def test_with_artefacts_copies_keeps_shape_and_dtype_and_is_repeatable():
    images = _skin(6)
    before = images.copy()
    out = with_artefacts(images, seed=3)
    np.testing.assert_array_equal(images, before)  # the input is left alone
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, with_artefacts(images, seed=3))
    assert not np.array_equal(out, with_artefacts(images, seed=4))
    changed = np.mean(np.any(out != images, axis=-1), axis=(1, 2))
    # Every image gets something, and no image is covered: the lesion stays the main subject.
    assert np.all(changed > 0.002) and np.all(changed < 0.6), changed
    floats = with_artefacts(images.astype(np.float32), seed=3)  # decode_and_resize gives float32
    assert floats.dtype == np.float32 and floats.min() >= 0 and floats.max() <= 255


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_each_kind_draws_what_it_says(kind):
    image = _skin(1)[0]
    drawn = image.copy()
    kind(drawn, np.random.default_rng(1))
    changed = np.any(drawn != image, axis=-1)
    assert changed.any()
    new = drawn[changed].astype(float)
    if kind is artefacts.hair:  # thin dark strokes
        assert np.median(new.mean(axis=1)) < 120 and changed.mean() < 0.3
    elif kind is artefacts.sticker:  # saturated colour discs touching an edge
        assert np.median(new.max(axis=1) - new.min(axis=1)) > 100
        assert changed[0].any() or changed[-1].any() or changed[:, 0].any() or changed[:, -1].any()
    else:  # purple: blue and red above green
        assert kind is artefacts.ink
        assert np.median(new[:, 2] - new[:, 1]) > 20 and np.median(new[:, 0] - new[:, 1]) > 0


def test_sizes_scale_with_the_picture():
    """At the sizes training uses (192, 224) and above, a hair covers about the same share."""
    small, large = _skin(1, 192)[0], _skin(1, 320)[0]
    a, b = small.copy(), large.copy()
    artefacts.hair(a, np.random.default_rng(5))
    artefacts.hair(b, np.random.default_rng(5))
    share = lambda x, y: np.mean(np.any(x != y, axis=-1))  # noqa: E731
    assert share(a, small) == pytest.approx(share(b, large), rel=0.3)
