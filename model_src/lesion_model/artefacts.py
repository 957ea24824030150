"""What dermoscopic photos from real clinics carry besides the lesion: hair, colour-calibration
stickers, ink marks. The not-a-lesion guard counts lesion images with these drawn on as lesions
(guard.positive_features).

Why: fitted on the lesions of one source only, the guard refused 7.7 % of the other source's
lesions, and most of them carried exactly these things (ISIC 2017's round colour stickers, dense
hair, purple ink around the lesion, rulers) while the fitting source seldom shows them. With
hair, stickers and ink drawn onto its positives it refused 3.0 % (docs/model.md). A clinic no
training image comes from will have its own hair and markers, so the guard must not read them as
"not a lesion". Rulers and scale bars were tried and left out: with them the guard also let
through clinical photographs that carry a watermark in a corner (78 % refused instead of 89 %).

numpy only (the SageMaker job and the tests need nothing else); deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

_REFERENCE = 224.0  # sizes below are in pixels of a 224-pixel picture and scale with the picture


def _stamp(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, colour, radius: float, alpha: float = 1.0):
    """Paint round dabs of `radius` pixels at the points (ys, xs) onto `image` [S, S, 3] (in place)."""
    size = image.shape[0]
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dy**2 + dx**2 <= radius**2 + 0.25
    yy = (np.round(ys)[:, None] + dy[inside][None]).astype(int).ravel()
    xx = (np.round(xs)[:, None] + dx[inside][None]).astype(int).ravel()
    ok = (yy >= 0) & (yy < size) & (xx >= 0) & (xx < size)
    yy, xx = yy[ok], xx[ok]
    paint = np.asarray(colour, np.float64)
    image[yy, xx] = np.clip(image[yy, xx] * (1.0 - alpha) + paint * alpha, 0, 255).astype(image.dtype)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, max(n, 2))[:, None]
    points = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    return points[:, 0], points[:, 1]


def _hue(rng: np.random.Generator) -> np.ndarray:
    """A fully saturated colour of random hue, 0..255."""
    return np.clip(np.abs((rng.uniform() * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1) * 255


def hair(image: np.ndarray, rng: np.random.Generator) -> None:
    """5-30 thin dark hairs, gently curved, roughly parallel."""
    size = image.shape[0]
    scale = size / _REFERENCE
    base, direction = rng.uniform(5, 70), rng.uniform(0, np.pi)
    for _ in range(int(rng.integers(5, 31))):
        angle = direction + rng.normal(0, 0.5)
        length = rng.uniform(0.3, 1.0) * size
        p0 = rng.uniform(0, size, 2)
        p2 = p0 + length * np.array([np.sin(angle), np.cos(angle)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.12 * length, 2)
        shade = float(np.clip(base + rng.normal(0, 10), 0, 255))
        colour = (shade, shade * rng.uniform(0.8, 1.0), shade * rng.uniform(0.6, 0.95))
        _stamp(image, *_bezier(p0, p1, p2, int(2 * length)), colour, rng.uniform(0.4, 1.1) * scale)


def sticker(image: np.ndarray, rng: np.random.Generator) -> None:
    """One or two round colour-calibration stickers, partly outside the picture at an edge."""
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(int(rng.integers(1, 3))):
        radius = rng.uniform(0.12, 0.3) * size
        along, out = rng.uniform(0, size), rng.uniform(-0.5, 0.5) * radius
        cy, cx = [(out, along), (size - out, along), (along, out), (along, size - out)][int(rng.integers(4))]
        distance = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        image[distance < radius] = _hue(rng) * rng.uniform(0.7, 1.0)
        if rng.random() < 0.6:  # a ring of another colour
            image[distance < radius * rng.uniform(0.4, 0.7)] = _hue(rng)


def ink(image: np.ndarray, rng: np.random.Generator) -> None:
    """One to three purple skin-marker strokes: short curves or arcs around the lesion."""
    size = image.shape[0]
    colour = (rng.uniform(80, 150), rng.uniform(20, 80), rng.uniform(120, 200))
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            p0, p1, p2 = rng.uniform(-0.1 * size, 1.1 * size, size=(3, 2))
            ys, xs = _bezier(p0, p1, p2, int(2 * size * rng.uniform(0.2, 0.6)))
        else:
            cy, cx = rng.uniform(0.3, 0.7, 2) * size
            ry, rx = rng.uniform(0.15, 0.4, 2) * size
            t = np.linspace(rng.uniform(0, 2 * np.pi), rng.uniform(2 * np.pi, 4 * np.pi), 400)
            ys, xs = cy + ry * np.sin(t), cx + rx * np.cos(t)
        _stamp(image, ys, xs, colour, rng.uniform(1.0, 2.5) * size / _REFERENCE, alpha=rng.uniform(0.5, 0.9))


KINDS = (hair, sticker, ink)


def with_artefacts(images: np.ndarray, seed: int) -> np.ndarray:
    """A copy of `images` [N, S, S, 3] (0..255, any dtype) with one or two of KINDS drawn on each."""
    rng = np.random.default_rng(seed)
    out = np.array(images, copy=True)
    for image in out:
        for k in rng.choice(len(KINDS), int(rng.integers(1, 3)), replace=False):
            KINDS[k](image, rng)
    return out
