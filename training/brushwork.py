"""`strokes`: a generated painting of brush strokes that follow a swirling flow field, in a small
palette. A second family of style images beside `mosaic`, so an AdaIN decoder sees textures
other than tiles; deterministic in its seed, like mosaic."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .colour import hsv_to_rgb


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """n colours around one or two random hues (an analogous or complementary scheme), 0..255."""
    base = rng.uniform(0, 1)
    hues = (base + rng.choice([0.0, 0.08, -0.08, 0.5], n)) % 1.0
    sat = rng.uniform(0.45, 0.95, n)
    val = rng.uniform(0.35, 1.0, n)
    return (hsv_to_rgb(hues, sat, val) * 255).astype(np.uint8)


def strokes(size: int = 256, seed: int = 0, density: float = 1.0) -> np.ndarray:
    """A (size, size, 3) uint8 RGB (sRGB) canvas of about density * size^2 / 40 strokes."""
    rng = np.random.default_rng(seed)
    colours = _palette(rng, 6)
    img = Image.new("RGB", (size, size), tuple(int(c) for c in colours[0]))
    draw = ImageDraw.Draw(img)
    # Flow field: the stroke direction at (x, y) is a sum of two slow sines (a swirl).
    f1, f2 = rng.uniform(2, 6, 2) * np.pi / size
    p1, p2, turn = rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
    width = max(2, int(size * rng.uniform(0.012, 0.03)))
    length = size * rng.uniform(0.03, 0.08)
    for _ in range(int(density * size * size / 40)):
        x, y = rng.uniform(0, size, 2)
        colour = colours[rng.integers(1, len(colours))].astype(int) + rng.integers(-18, 19, 3)
        points = [(x, y)]
        for _ in range(6):
            a = turn + 1.3 * np.sin(x * f1 + p1) + 1.3 * np.cos(y * f2 + p2)
            x, y = x + np.cos(a) * length / 6, y + np.sin(a) * length / 6
            points.append((x, y))
        draw.line(
            points, fill=tuple(int(c) for c in np.clip(colour, 0, 255)), width=width, joint="curve"
        )
    return np.asarray(img.filter(ImageFilter.SMOOTH))
