"""AdaIN at run time: a style is its image's relu4_1 channel statistics, computed once when the
style is added and kept on disk, so a frame costs one encode and one decode whatever the style.

Mixing is free per frame: AdaIN is linear in the style's mean and std, so
sum_i w_i * AdaIN(f, s_i) = norm(f) * sum_i w_i std_i + sum_i w_i mean_i, which is what
pytorch-AdaIN's style interpolation computes with one AdaIN per style.

Colour preservation is luminance-only transfer (Gatys et al. 2016, "Preserving Color in Neural
Artistic Style Transfer", arXiv:1606.05897): the content's luminance is stylized with the
statistics of the style image's luminance, and the content's chroma is kept. pytorch-AdaIN
instead recolours the style image to each content image (`coral`) before encoding it, which
would re-encode the style every frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .adain import AdaINNet, adain, mean_std
from .store import Cancelled

# BT.601 luma weights on sRGB-encoded values (JPEG's Y). They sum to 1, so adding one value to
# R, G and B changes Y by that value and leaves the chroma (B - Y, R - Y) alone.
LUMA = (0.299, 0.587, 0.114)


def luma(x01: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luma, same range."""
    w = x01.new_tensor(LUMA).view(1, 3, 1, 1)
    return (x01 * w).sum(1, keepdim=True)


@dataclass(frozen=True)
class StyleStats:
    """relu4_1 channel statistics of one style image, each (512,) float32: of the image as is,
    and of its luminance (grey, for colour preservation)."""

    mean: torch.Tensor
    std: torch.Tensor
    gray_mean: torch.Tensor
    gray_std: torch.Tensor

    KEYS = ("mean", "std", "gray_mean", "gray_std")

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {f"relu4_1.{k}": getattr(self, k) for k in self.KEYS}

    @classmethod
    def from_tensors(cls, d: dict[str, torch.Tensor]) -> StyleStats:
        missing = [f"relu4_1.{k}" for k in cls.KEYS if f"relu4_1.{k}" not in d]
        if missing:
            raise ValueError(f"style statistics lack {missing}")
        return cls(*(d[f"relu4_1.{k}"].float().reshape(-1) for k in cls.KEYS))


def compute_style_stats(
    net: AdaINNet, rgb: np.ndarray, cancelled: Callable[[], bool] | None = None
) -> StyleStats:
    """Statistics of an (H, W, 3) uint8 RGB sRGB image at its own size (two encoder passes).
    With `cancelled`, it is asked between the encoder's layers (a large image takes a minute
    on a CPU): Cancelled is raised when it says True."""
    device = next(net.parameters()).device
    x = torch.from_numpy(np.array(rgb)).to(device).permute(2, 0, 1)[None].float() / 255

    def encode(t: torch.Tensor) -> torch.Tensor:
        if cancelled is None:
            return net.encode(t)
        for layer in net.encoder:
            if cancelled():
                raise Cancelled("the style's encoding was cancelled")
            t = layer(t)
        return t

    with torch.inference_mode():
        mean, std = mean_std(encode(x))
        gray_mean, gray_std = mean_std(encode(luma(x).expand(-1, 3, -1, -1)))
    return StyleStats(*(t.reshape(-1).float().cpu() for t in (mean, std, gray_mean, gray_std)))


def blend(parts: Sequence[tuple[StyleStats, float]]) -> StyleStats:
    """Weighted mix of styles; weights must be finite, >= 0, and not all 0 (normalised here)."""
    weights = [float(w) for _, w in parts]
    if not parts or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"mix weights {weights}: expected finite numbers >= 0 with a positive sum")
    total = sum(weights)
    return StyleStats(
        *(
            sum(getattr(s, k) * (w / total) for (s, _), w in zip(parts, weights))
            for k in StyleStats.KEYS
        )
    )


class AdaINStylizer(nn.Module):
    """One AdaIN net with one (possibly mixed) style and the session's settings, as the pipeline
    runs models: (N, 3, H, W) float RGB 0..255 sRGB in, the same size out, about 0..255,
    unclamped. `alpha` blends the AdaIN features with the content's own (0: the decoder's
    reconstruction of the content). Built once per session config, never per frame."""

    size_multiple = 8  # three ceil-mode pools: other sizes decode to a larger image

    def __init__(
        self, net: AdaINNet, stats: StyleStats, alpha: float = 1.0, preserve_color: bool = False
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha {alpha}: expected a number in [0, 1]")
        self.net = net
        self.stats = stats
        self.alpha = float(alpha)
        self.preserve_color = bool(preserve_color)
        mean, std = (stats.gray_mean, stats.gray_std) if preserve_color else (stats.mean, stats.std)
        p = next(net.parameters())
        self.register_buffer("mean", mean.to(p.device, p.dtype).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.to(p.device, p.dtype).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x01 = x / 255  # the peer's convention: the encoder's conv 0 expects 0..1
        y_in = luma(x01) if self.preserve_color else None
        f = self.net.encode(y_in.expand(-1, 3, -1, -1) if y_in is not None else x01)
        t = adain(f, self.mean, self.std)
        if self.alpha < 1.0:
            t = torch.lerp(f, t, self.alpha)  # alpha * AdaIN + (1 - alpha) * content features
        y = self.net.decode(t)[..., :h, :w]
        if y_in is not None:
            y = x01 + (luma(y) - y_in)  # the stylized luminance on the content's chroma
        return y * 255
