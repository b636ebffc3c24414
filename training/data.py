"""Content images and the random crops the generator trains on.

Two sources (the `data/` config group names one by `_target_`): a folder of image files, read
lazily so a COCO-sized folder does not sit in memory, and scikit-image's bundled photographs,
which ship inside its wheel (no download) and make a tiny built-in set.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import ConfigError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

# Colour photographs bundled in scikit-image's wheel; `skimage.data` loads them without pooch.
SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


class FolderImages:
    """Every image file under `content_dir` (recursively, so an ImageFolder root works too)."""

    def __init__(self, content_dir: str) -> None:
        root = Path(content_dir)
        if not root.is_dir():
            raise ConfigError("data.content_dir", f"{content_dir!r} is not a directory")
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ConfigError(
                "data.content_dir",
                f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {content_dir!r}",
            )
        self.description = f"{len(self.paths)} images from {root}"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Image.Image:
        return Image.open(self.paths[i]).convert("RGB")


class SkimageImages:
    """scikit-image's bundled colour photographs, by name (`SKIMAGE_PHOTOS`)."""

    def __init__(self, names: Sequence[str] = SKIMAGE_PHOTOS) -> None:
        unknown = [n for n in names if n not in SKIMAGE_PHOTOS]
        if unknown or not names:
            raise ConfigError(
                "data.names",
                f"unknown or no scikit-image photographs {list(unknown)}; "
                f"choose from {list(SKIMAGE_PHOTOS)}",
            )
        from skimage import data

        stereo = data.stereo_motorcycle()
        arrays = {"motorcycle_left": stereo[0], "motorcycle_right": stereo[1]}
        self.images = [
            Image.fromarray(arrays[n] if n in arrays else getattr(data, n)()).convert("RGB")
            for n in names
        ]
        self.description = f"scikit-image sample photographs: {', '.join(names)}"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Image.Image:
        return self.images[i]


def random_crop(img: Image.Image, size: int, max_zoom: float, rng: random.Random) -> np.ndarray:
    """A (size, size, 3) uint8 crop: the image is resized so its shorter side is a random length
    in [size, max_zoom * size] (the crop then shows a whole scene or a detail of it), cropped at
    a random place and flipped left-right half the time."""
    short = rng.uniform(size, max(size, max_zoom * size))
    scale = short / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = rng.randint(0, w - size), rng.randint(0, h - size)
    crop = img.crop((left, top, left + size, top + size))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop)


def center_square(img: Image.Image, size: int) -> np.ndarray:
    """A (size, size, 3) uint8 centre crop after resizing the shorter side to `size`."""
    scale = size / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 arrays -> (N, 3, H, W) float32 RGB 0..255 (the generator's input)."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


class CropSampler:
    """Endless random training batches from a content source, seeded."""

    def __init__(
        self,
        source: FolderImages | SkimageImages,
        size: int,
        batch_size: int,
        max_zoom: float,
        seed: int,
    ) -> None:
        self.source, self.size, self.batch_size, self.max_zoom = source, size, batch_size, max_zoom
        self.rng = random.Random(seed)

    def next(self) -> torch.Tensor:
        """(batch_size, 3, size, size) float32 RGB 0..255."""
        picks = [self.source[self.rng.randrange(len(self.source))] for _ in range(self.batch_size)]
        return to_batch([random_crop(img, self.size, self.max_zoom, self.rng) for img in picks])
