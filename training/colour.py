"""Colour helpers for the style images made by code (`mosaic`, `strokes`)."""

from __future__ import annotations

import numpy as np


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hue, saturation, value arrays (all 0..1, the same shape (N,)) to (N, 3) float32 RGB 0..1."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack(
        [
            np.stack(c, 1)
            for c in [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
        ],
        0,
    )
    return table[i, np.arange(len(h))].astype(np.float32)
