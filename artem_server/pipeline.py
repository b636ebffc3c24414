"""Frame pixels -> model -> frame pixels: the one place for pre- and post-processing.

In: views of (H, W, bpp) uint8 in RGBA8/BGRA8/RGB8, sRGB or linear. The model sees
(N, 3, H', W') float32 RGB in 0..255 sRGB, with H', W' padded by reflection to its size
multiple (and a small minimum); views of one size run as one batch (both eyes together).
Out: the same size, format and colour space, alpha copied from the input untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .frames import View

MIN_MODEL_SIZE = 16  # the generator's 9x9 reflection pads need a few pixels at 1/4 resolution


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 decoding, on values in 0..1."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 encoding, on values in 0..1."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


@dataclass
class StageTimes:
    convert_s: float = 0.0
    model_s: float = 0.0


@dataclass
class Pipeline:
    """Runs one model over the views of one frame on `device` (CPU here; CUDA in backends)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def to_model_input(self, view: View) -> torch.Tensor:
        """(H, W, bpp) uint8 -> (3, H, W) float32 RGB 0..255 sRGB on the device."""
        hwc = torch.from_numpy(np.ascontiguousarray(view.pixels[..., list(view.format.rgb_order)]))
        x = hwc.to(self.device, non_blocking=True).permute(2, 0, 1).float()
        if view.linear:
            x = linear_to_srgb(x / 255) * 255
        return x

    def from_model_output(self, y: torch.Tensor, view: View) -> np.ndarray:
        """(3, H, W) RGB ~0..255 sRGB -> (H, W, bpp) uint8 in the view's format, alpha copied."""
        y = y.clamp(0, 255)
        if view.linear:
            y = srgb_to_linear(y / 255) * 255
        rgb = y.round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        out = np.empty((view.height, view.width, view.format.bpp), dtype=np.uint8)
        out[..., list(view.format.rgb_order)] = rgb
        if view.format.alpha_index is not None:
            out[..., view.format.alpha_index] = view.pixels[..., view.format.alpha_index]
        return out

    def run(self, model: torch.nn.Module, views: list[View], strength: float = 1.0,
            times: StageTimes | None = None) -> list[np.ndarray]:
        """Stylize the views of one frame; views of equal size share one batch."""
        times = times if times is not None else StageTimes()
        outputs: list[np.ndarray | None] = [None] * len(views)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, v in enumerate(views):
            groups.setdefault((v.height, v.width), []).append(i)
        with torch.inference_mode():
            for (h, w), idx in groups.items():
                t0 = time.perf_counter()
                x = torch.stack([self.to_model_input(views[i]) for i in idx])  # (N, 3, H, W)
                padded = pad_to_multiple(x, getattr(model, "size_multiple", 1),
                                         MIN_MODEL_SIZE if getattr(model, "size_multiple", 1) > 1 else 1)
                t1 = time.perf_counter()
                y = model(padded)[..., :h, :w]
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                t2 = time.perf_counter()
                if strength < 1.0:
                    y = torch.lerp(x, y, strength)
                for j, i in enumerate(idx):
                    outputs[i] = self.from_model_output(y[j], views[i])
                t3 = time.perf_counter()
                times.convert_s += (t1 - t0) + (t3 - t2)
                times.model_s += t2 - t1
        return outputs  # type: ignore[return-value]


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int = 1) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right so H and W are multiples of `multiple` and at
    least `minimum`: by reflection, which adds no edge the model would stylize, or by
    repeating the border where the image is too small to reflect."""
    h, w = x.shape[-2:]
    th = max(-(-h // multiple) * multiple, -(-minimum // multiple) * multiple)
    tw = max(-(-w // multiple) * multiple, -(-minimum // multiple) * multiple)
    if (th, tw) == (h, w):
        return x
    pad = (0, tw - w, 0, th - h)
    mode = "reflect" if tw - w < w and th - h < h else "replicate"
    return F.pad(x, pad, mode=mode)
