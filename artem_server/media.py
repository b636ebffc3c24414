"""File kinds ArtEm reads and writes, shared by the server's CLI and the Python client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"})


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) RGB uint8 of an image file."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
