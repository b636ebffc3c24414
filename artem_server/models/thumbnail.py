"""A small thumbnail of what a style does, stored with its entry."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

THUMB_SIZE = (128, 96)  # width, height


def content_image() -> np.ndarray:
    """The fixed content every thumbnail shows: scikit-image's bundled `chelsea` photograph."""
    from skimage import data

    img = Image.fromarray(data.chelsea()).resize(THUMB_SIZE, Image.Resampling.BICUBIC)
    return np.asarray(img)


def render_thumbnail(model: Callable[[torch.Tensor], torch.Tensor]) -> bytes:
    """PNG bytes of `model` applied to the thumbnail content. `model` maps (1, 3, H, W) RGB
    0..255 to the same; H and W here are multiples of 8."""
    x = torch.from_numpy(content_image().copy()).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        y = model(x)[0].clamp(0, 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(y).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
