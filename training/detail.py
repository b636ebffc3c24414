"""A floor under the fine detail a style keeps, for the shift-consistency fine-tunes.

Steadiness between the eyes and as the head moves can be bought with blur: a net that smooths
away the picture's finest scale has less to disagree about. `artem eval comfort` watches for
that with its detail figure, the least-squares gain of the output's fine detail (luminance
minus its sigma-1 Gaussian blur) along the input's. This term asks each training batch for a
gain of at least `target`: weight x max(0, target - gain). The input's own fine detail sits on
the surfaces, so carrying it through costs no consistency; texture the style adds that does
not follow the input's detail is left alone, and above the floor the term is silent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SIGMA = 1.0
RADIUS = 4  # scipy.ndimage's Gaussian (truncate 4 sigma), as artem eval comfort uses
MARGIN = RADIUS  # border pixels left out: the blur's padding is a guess there


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    t = torch.arange(-RADIUS, RADIUS + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * SIGMA**2))
    k = k / k.sum()
    x = F.pad(x, [RADIUS] * 4, mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def fine_detail(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luminance minus its sigma-1 Gaussian blur."""
    w = rgb.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    y = (rgb * w).sum(1, keepdim=True)
    return (y - _gaussian(y))[..., MARGIN:-MARGIN, MARGIN:-MARGIN]


def detail_gain(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The batch's least-squares gain of the outputs' fine detail along the inputs' (scalar;
    independent of the images' range)."""
    with torch.no_grad():
        hx = fine_detail(x.float())
    hy = fine_detail(y.float())
    return (hx * hy).sum() / (hx * hx).sum().clamp_min(1e-12)


class DetailFloor:
    """weight x max(0, target - detail gain) of a batch of outputs `y` for inputs `x`."""

    def __init__(self, weight: float, target: float) -> None:
        self.weight, self.target = float(weight), float(target)

    def __call__(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.weight * F.relu(self.target - detail_gain(y, x))
