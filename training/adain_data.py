"""Style images for AdaIN training (the `style` group's options for model=adain), and their
statistics, computed once.

A decoder learns to draw arbitrary styles only if it sees many: `GeneratedStyles` makes them
with style_images' generators (no files, no licences), `FolderStyles` reads a folder (WikiArt in
pytorch-AdaIN's recipe).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artem_server.models.adain import AdaINNet, mean_std

from .data import IMAGE_SUFFIXES
from .errors import ConfigError
from .style_images import BUILTINS


class GeneratedStyles:
    """`count` images of `size` x `size`, cycling through `kinds` with seeds seed, seed+1, ..."""

    def __init__(
        self,
        kinds: Sequence[str] = ("mosaic", "strokes"),
        count: int = 32,
        size: int = 256,
        seed: int = 0,
    ) -> None:
        unknown = [k for k in kinds if k not in BUILTINS]
        if unknown or not kinds:
            raise ConfigError(
                "style.kinds", f"unknown or no generators {list(unknown)}; known: {list(BUILTINS)}"
            )
        if count < 1 or size < 16:
            raise ConfigError(
                "style.count" if count < 1 else "style.size",
                "must be at least 1 (count) / 16 (size)",
            )
        self.images = [
            BUILTINS[kinds[i % len(kinds)]](size=size, seed=seed + i) for i in range(count)
        ]
        self.description = (
            f"{count} generated style images ({', '.join(kinds)}, "
            f"seeds {seed}..{seed + count - 1}, {size}px)"
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]


class FolderStyles:
    """Image files under `style_dir` (recursively), the shorter side resized to `size` (null:
    as they are); at most `count` of them (null: all), in name order."""

    def __init__(self, style_dir: str, size: int | None = 256, count: int | None = None) -> None:
        root = Path(style_dir)
        if not root.is_dir():
            raise ConfigError("style.style_dir", f"{style_dir!r} is not a directory")
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
        if not paths:
            raise ConfigError("style.style_dir", f"no image files under {style_dir!r}")
        self.images = [self._load(p, size) for p in paths]
        self.description = f"{len(paths)} style images from {root}"

    @staticmethod
    def _load(path: Path, size: int | None) -> np.ndarray:
        img = Image.open(path).convert("RGB")
        if size:
            scale = size / min(img.size)
            img = img.resize(
                (max(size, round(img.width * scale)), max(size, round(img.height * scale))),
                Image.Resampling.BICUBIC,
            )
        return np.asarray(img)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]


class StyleBank:
    """Per style image and tap, the channel mean and std (unbiased + eps, as the losses use),
    computed once with the frozen encoder: (S, C) tensors on the encoder's device. pytorch-AdaIN
    re-encodes a random style crop every step; encoding each whole image once saves a quarter
    of each step and matches how styles are encoded at run time (whole image, own size)."""

    def __init__(self, net: AdaINNet, images: Sequence[np.ndarray], taps: Sequence[str]) -> None:
        device = next(net.parameters()).device
        means: dict[str, list[torch.Tensor]] = {t: [] for t in taps}
        stds: dict[str, list[torch.Tensor]] = {t: [] for t in taps}
        with torch.no_grad():
            for img in images:
                x = torch.from_numpy(np.array(img)).to(device).permute(2, 0, 1)[None].float() / 255
                for tap, f in net.features(x, taps).items():
                    m, s = mean_std(f)
                    means[tap].append(m.flatten())
                    stds[tap].append(s.flatten())
        self.mean = {t: torch.stack(v) for t, v in means.items()}
        self.std = {t: torch.stack(v) for t, v in stds.items()}
        self.count = len(images)
