"""Style images made by our own code, so the project can ship a style without shipping (or
licensing) someone else's painting.

`mosaic` draws Voronoi tiles in vivid colours separated by dark grout, each tile streaked with a
brush-like texture. It is deterministic in its seed: the shipped style is reproduced from the
seed recorded in its model card, so the image itself need not be committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .brushwork import strokes
from .colour import hsv_to_rgb

BUILTIN_PREFIX = "builtin:"


def mosaic(size: int = 256, seed: int = 0, tiles: int = 96) -> np.ndarray:
    """A (size, size, 3) uint8 RGB (sRGB) mosaic of about `tiles` Voronoi tiles."""
    rng = np.random.default_rng(seed)
    # Jittered-grid seed points give tiles of similar size (plain uniform points give slivers).
    g = max(2, int(round(tiles**0.5)))
    cell = size / g
    gy, gx = np.mgrid[0:g, 0:g].reshape(2, -1)
    pts = np.stack(
        [
            (gy + rng.uniform(0.15, 0.85, gy.size)) * cell,
            (gx + rng.uniform(0.15, 0.85, gx.size)) * cell,
        ],
        axis=1,
    ).astype(np.float32)

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    pix = np.stack([yy.ravel(), xx.ravel()], axis=1)
    d = np.empty((pix.shape[0], 2), np.float32)  # nearest and second-nearest distance
    idx = np.empty(pix.shape[0], np.int64)
    for s in range(0, pix.shape[0], 16384):  # chunks keep the distance matrix small
        dist = np.sqrt(((pix[s : s + 16384, None, :] - pts[None]) ** 2).sum(-1))
        part = np.partition(dist, 1, axis=1)[:, :2]
        d[s : s + 16384] = part
        idx[s : s + 16384] = dist.argmin(1)

    # Vivid colours: random hue, high saturation and value (HSV -> RGB).
    hue = rng.uniform(0, 1, len(pts))
    sat = rng.uniform(0.65, 1.0, len(pts))
    val = rng.uniform(0.7, 1.0, len(pts))
    colours = hsv_to_rgb(hue, sat, val)  # (T, 3) in 0..1

    # Brush texture: each tile has its own stroke direction; streaks are sines along it plus noise.
    angle = rng.uniform(0, np.pi, len(pts))[idx]
    freq = rng.uniform(0.35, 0.7, len(pts))[idx]
    phase = rng.uniform(0, 2 * np.pi, len(pts))[idx]
    along = pix[:, 0] * np.cos(angle) + pix[:, 1] * np.sin(angle)
    streak = 0.5 * np.sin(along * freq + phase) + 0.5 * rng.standard_normal(len(pix)).astype(
        np.float32
    )
    shade = 1.0 + 0.12 * streak
    img = colours[idx] * shade[:, None]

    # Grout where a pixel is nearly as close to its second seed as to its first: a tile border.
    edge = d[:, 1] - d[:, 0]
    grout = np.clip((edge - 1.0) / 1.5, 0.0, 1.0)[:, None]  # 0 on the line, 1 inside
    grout_colour = np.array([0.10, 0.08, 0.07], np.float32)
    img = img * grout + grout_colour * (1.0 - grout)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8).reshape(size, size, 3)


BUILTINS = {"mosaic": mosaic, "strokes": strokes}


def load_style_image(spec: str, size: int | None, seed: int) -> np.ndarray:
    """The style image as (H, W, 3) uint8 RGB. `spec` is `builtin:<name>` (generated at `size`,
    default 256, from `seed`) or a file path (resized to a `size` x `size` square when `size` is
    given, as pytorch/examples' --style-size does). Raises FileNotFoundError/KeyError."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        if name not in BUILTINS:
            raise KeyError(f"no built-in style image {name!r}; known: {', '.join(BUILTINS)}")
        return BUILTINS[name](size=size or 256, seed=seed)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"style image {spec!r} does not exist")
    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img)
